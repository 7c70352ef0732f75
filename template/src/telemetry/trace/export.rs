//! Sending finished spans: a bounded queue, drained in batches by a thread of its own that
//! posts them to the collector (OTLP/HTTP, protobuf) through the HTTP client the service
//! already has for Sentry (ureq, rustls).
//!
//! Nothing here waits on the collector in the code that ends a span: a full queue drops
//! the span (counted); an export that fails or times out drops its batch (counted), and
//! the thread goes on with the next one.
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry::KeyValue;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

use crate::config::{Environment, OtlpEndpoint, TraceSettings};

/// Largest collector answer read (an export's answer is a few bytes).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// Spans exported and dropped since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Accepted by the collector.
    pub exported: u64,
    /// Dropped because the queue was full.
    pub queue_full: u64,
    /// Dropped because their export failed (refused, timed out, answered an error).
    pub export_failed: u64,
}

#[derive(Default)]
struct Counters {
    exported: AtomicU64,
    queue_full: AtomicU64,
    export_failed: AtomicU64,
}

/// What the export thread is sent.
enum Message {
    /// Boxed: the queue holds a pointer per span, not the span.
    Span(Box<SpanData>),
    /// Send what is queued, then answer and stop.
    Stop(SyncSender<()>),
}

/// The sending end of the export queue.
pub(super) struct Queue {
    sender: SyncSender<Message>,
    counters: Arc<Counters>,
}

impl Queue {
    /// Queues a finished span, or drops it (counted) when the queue is full.
    pub(super) fn push(&self, span: SpanData) {
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) =
            self.sender.try_send(Message::Span(Box::new(span)))
        {
            self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub(super) fn stats(&self) -> Stats {
        Stats {
            exported: self.counters.exported.load(Ordering::Relaxed),
            queue_full: self.counters.queue_full.load(Ordering::Relaxed),
            export_failed: self.counters.export_failed.load(Ordering::Relaxed),
        }
    }
}

/// Stops the export thread when dropped, after it sent what was queued (within a bound).
pub(super) struct Stopper {
    sender: SyncSender<Message>,
    bound: Duration,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Stopper {
    fn drop(&mut self) {
        let deadline = Instant::now() + self.bound;
        let (done, stopped) = std::sync::mpsc::sync_channel(1);
        let mut stop = Message::Stop(done);
        // The queue may be full while an export is under way: retry until the deadline.
        loop {
            match self.sender.try_send(stop) {
                Ok(()) => break,
                Err(TrySendError::Full(again)) if Instant::now() < deadline => {
                    stop = again;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(_) => {
                    tracing::warn!("spans still queued at exit were not sent");
                    return;
                }
            }
        }
        match stopped.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(()) => {
                if let Some(thread) = self.thread.take() {
                    let _ = thread.join();
                }
            }
            // The thread is left to the process's exit.
            Err(_) => tracing::warn!(
                bound_ms = self.bound.as_millis() as u64,
                "spans still queued at exit were not all sent in time"
            ),
        }
    }
}

/// Starts the export thread: batches of up to `trace.batch_size` spans, each sent at most
/// `trace.batch_delay_ms` after its first span was queued.
pub(super) fn start<E: SpanExporter + 'static>(
    exporter: E,
    settings: &TraceSettings,
) -> Result<(Queue, Stopper), String> {
    let (sender, receiver) = std::sync::mpsc::sync_channel(settings.queue_capacity);
    let counters = Arc::new(Counters::default());
    let batching = Batching {
        size: settings.batch_size,
        delay: Duration::from_millis(settings.batch_delay_ms),
        counters: counters.clone(),
    };
    let thread = std::thread::Builder::new()
        .name("trace-export".into())
        .spawn(move || batching.run(&receiver, &exporter))
        .map_err(|error| format!("cannot start the trace export thread: {error}"))?;
    let queue = Queue {
        sender: sender.clone(),
        counters,
    };
    let stopper = Stopper {
        sender,
        bound: Duration::from_millis(settings.shutdown_timeout_ms),
        thread: Some(thread),
    };
    Ok((queue, stopper))
}

/// The export thread's loop.
struct Batching {
    size: usize,
    delay: Duration,
    counters: Arc<Counters>,
}

impl Batching {
    fn run<E: SpanExporter>(&self, receiver: &Receiver<Message>, exporter: &E) {
        let mut batch = Vec::with_capacity(self.size);
        // When the batch's first span has waited long enough.
        let mut due: Option<Instant> = None;
        let mut failing = false;
        loop {
            let received = match due {
                None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(due) => receiver.recv_timeout(due.saturating_duration_since(Instant::now())),
            };
            match received {
                Ok(Message::Span(span)) => {
                    due.get_or_insert_with(|| Instant::now() + self.delay);
                    batch.push(*span);
                    if batch.len() >= self.size {
                        self.export(exporter, &mut batch, &mut failing);
                        due = None;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.export(exporter, &mut batch, &mut failing);
                    due = None;
                }
                Ok(Message::Stop(done)) => {
                    while let Ok(Message::Span(span)) = receiver.try_recv() {
                        batch.push(*span);
                        if batch.len() >= self.size {
                            self.export(exporter, &mut batch, &mut failing);
                        }
                    }
                    self.export(exporter, &mut batch, &mut failing);
                    let _ = exporter.shutdown();
                    let _ = done.send(());
                    return;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.export(exporter, &mut batch, &mut failing);
                    return;
                }
            }
        }
    }

    /// Sends `batch` (emptying it) and counts the outcome; says once when exports start
    /// failing and once when they work again.
    fn export<E: SpanExporter>(&self, exporter: &E, batch: &mut Vec<SpanData>, failing: &mut bool) {
        if batch.is_empty() {
            return;
        }
        let count = batch.len() as u64;
        let spans = std::mem::replace(batch, Vec::with_capacity(self.size));
        match futures_executor::block_on(exporter.export(spans)) {
            Ok(()) => {
                self.counters.exported.fetch_add(count, Ordering::Relaxed);
                if std::mem::take(failing) {
                    tracing::info!("the trace collector takes spans again");
                }
            }
            Err(error) => {
                self.counters
                    .export_failed
                    .fetch_add(count, Ordering::Relaxed);
                if !std::mem::replace(failing, true) {
                    tracing::warn!(
                        %error,
                        dropped = count,
                        "cannot export spans: they are dropped (counted in /metrics) until \
                         the trace collector answers"
                    );
                }
            }
        }
    }
}

/// The OTLP/HTTP exporter for `endpoint`, with the configured headers and timeout.
pub(super) fn otlp(
    settings: &TraceSettings,
    endpoint: &OtlpEndpoint,
    resource: &Resource,
) -> Result<opentelemetry_otlp::SpanExporter, String> {
    let timeout = Duration::from_millis(settings.timeout_ms);
    let headers: HashMap<String, String> = settings
        .headers
        .exposed()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Ureq::new(timeout))
        .with_endpoint(endpoint.traces_url())
        .with_protocol(Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_headers(headers)
        .build()
        .map_err(|error| format!("cannot set up the trace exporter: {error}"))?;
    exporter.set_resource(resource);
    Ok(exporter)
}

/// What every span of this process is about: the service, its version and environment,
/// this instance.
pub(super) fn resource(settings: &TraceSettings, env: Environment, hostname: &str) -> Resource {
    let pid = std::process::id();
    let mut attributes: Vec<(String, opentelemetry::Value)> = vec![
        ("service.name".into(), env!("CARGO_PKG_NAME").into()),
        ("service.version".into(), env!("CARGO_PKG_VERSION").into()),
        (
            "service.instance.id".into(),
            format!("{hostname}-{pid}").into(),
        ),
        ("deployment.environment.name".into(), env.as_str().into()),
        ("host.name".into(), hostname.to_owned().into()),
        ("process.pid".into(), i64::from(pid).into()),
        ("telemetry.sdk.name".into(), "opentelemetry".into()),
        ("telemetry.sdk.language".into(), "rust".into()),
    ];
    let mut set = |key: &str, value: opentelemetry::Value| match attributes
        .iter_mut()
        .find(|(name, _)| name == key)
    {
        Some((_, kept)) => *kept = value,
        None => attributes.push((key.to_owned(), value)),
    };
    for (key, value) in &settings.resource_attributes {
        set(key, value.clone().into());
    }
    if let Some(name) = &settings.service_name {
        set("service.name", name.clone().into());
    }
    Resource::builder_empty()
        .with_attributes(
            attributes
                .into_iter()
                .map(|(key, value)| KeyValue::new(key, value)),
        )
        .build()
}

/// The OTLP exporter's HTTP client: the ureq agent Sentry's client is built on, so no
/// second HTTP or TLS stack. It blocks, which is what the export thread is for.
#[derive(Debug)]
struct Ureq(ureq::Agent);

impl Ureq {
    fn new(timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            // The exporter reads the status itself.
            .http_status_as_error(false)
            .build();
        Self(ureq::Agent::new_with_config(config))
    }
}

#[async_trait::async_trait]
impl HttpClient for Ureq {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let response = self.0.run(request.map(|body| body.to_vec()))?;
        let (parts, mut body) = response.into_parts();
        let body = body.with_config().limit(MAX_ANSWER_BYTES).read_to_vec()?;
        Ok(Response::from_parts(parts, Bytes::from(body)))
    }
}
