//! Logs and error reports: `tracing` events to stdout, files, syslog and GELF, errors to
//! Sentry. Every line written while serving a request carries its `request_id`; every line
//! of a task, the `request_id` of the request that scheduled it.
//!
//! Each sink writes either in the logging thread (`async: false`) or from its own thread
//! through a bounded queue (`async: true`): then a slow or absent backend never holds up a
//! request; lines that do not fit are dropped, counted (see [`lost_lines`], exported as
//! `log_lines_dropped_total`) and reported every [`REPORT_EVERY`].
use std::io::{BufWriter, IsTerminal};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tracing::{Metadata, Subscriber, subscriber::Interest};
use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_appender::rolling::{self, RollingFileAppender};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::layer::{Context, Filter};
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::config::{
    FileSink, GelfSink, LogFilter, LogFormat, Rotation, Settings, StdoutSink, SyslogSink,
};
use crate::platform::json_log::JsonLines;

pub mod gelf;
pub mod net;
mod pretty;
pub mod record;
pub mod reporting;
pub mod syslog;
pub mod trace;

use net::{Lost, Reconnecting, Transport};

/// The service's name: the file sink's prefix and syslog's app name by default.
const SERVICE: &str = env!("CARGO_PKG_NAME");

/// The most a queued stream sink writes at once.
const BATCH_BYTES: usize = 64 * 1024;

/// How often dropped lines are reported in the log.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Keeps the sinks' threads, the trace exporter and the Sentry client alive; dropping it
/// flushes them.
#[must_use = "logs are lost when the guard is dropped"]
pub struct Telemetry {
    // Dropped in this order: the spans' last words still reach the log sinks.
    _traces: Option<trace::Exporting>,
    _queues: Vec<WorkerGuard>,
    _sentry: Option<sentry::ClientInitGuard>,
}

/// A logging set-up that cannot work.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up logging: {0}")]
pub struct TelemetryError(String);

/// The lines each sink could not deliver so far.
struct SinkCounters {
    name: &'static str,
    queue: Option<ErrorCounter>,
    lost: Arc<Lost>,
}

static SINKS: OnceLock<Vec<SinkCounters>> = OnceLock::new();

/// Lines dropped so far, by sink: queue full, or backend down.
pub fn lost_lines() -> Vec<(&'static str, u64)> {
    SINKS
        .get()
        .map(|sinks| {
            sinks
                .iter()
                .map(|sink| {
                    let queued = sink.queue.as_ref().map_or(0, ErrorCounter::dropped_lines);
                    (sink.name, queued as u64 + sink.lost.get())
                })
                .collect()
        })
        .unwrap_or_default()
}

type Base = Layered<LogLevel, Registry>;
type BoxedLayer = Box<dyn Layer<Base> + Send + Sync>;

/// Installs the global subscriber (the sinks `log.*` turns on) and the Sentry client.
/// `RUST_LOG`, when set, wins over `log.level`; a sink's own `level` narrows it further.
///
/// When a subscriber is already installed (tests build several apps) nothing changes.
pub fn init(settings: &Settings) -> Result<Telemetry, TelemetryError> {
    if tracing::dispatcher::has_been_set() {
        // No second set of sink threads, sockets or Sentry client.
        return Ok(Telemetry {
            _traces: None,
            _queues: Vec::new(),
            _sentry: None,
        });
    }
    let log = &settings.log;
    let hostname = hostname();
    let mut sinks = Sinks::default();
    if log.stdout.enabled {
        sinks.stdout(&log.stdout);
    }
    if log.file.enabled {
        sinks.file(&log.file)?;
    }
    if log.syslog.enabled {
        sinks.syslog(&log.syslog, &hostname);
    }
    if log.gelf.enabled {
        sinks.gelf(&log.gelf, &hostname)?;
    }
    let sentry = reporting::init(&settings.sentry, settings.env, &hostname);
    if sentry.is_some() {
        sinks.layers.push(reporting::SentryLayer.boxed());
    }
    if log.syslog.enabled || log.gelf.enabled || settings.sentry.dsn.is_some() {
        // First, so that span fields are stored before the sinks read them.
        sinks.layers.insert(0, record::SpanFieldsLayer.boxed());
    }
    let traces = trace::init(&settings.trace, settings.env, &hostname).map_err(TelemetryError)?;
    let traced = traces.is_some();
    let traces = traces.map(|(layer, exporting)| {
        // First of all: the sinks read the trace ids it gives each span.
        sinks.layers.insert(0, layer.boxed());
        exporting
    });
    let filter = LogLevel {
        filter: EnvFilter::try_from_default_env().unwrap_or_else(|_| log.level.build()),
        spans: traced,
    };
    install(filter, sinks.layers, sinks.counters)?;
    Ok(Telemetry {
        _traces: traces,
        _queues: sinks.queues,
        _sentry: sentry,
    })
}

/// Installs the subscriber and, when this call installed it, the thread that reports the
/// sinks' lost lines.
fn install(
    filter: LogLevel,
    layers: Vec<BoxedLayer>,
    counters: Vec<SinkCounters>,
) -> Result<(), TelemetryError> {
    if Registry::default()
        .with(filter)
        .with(layers)
        .try_init()
        .is_ok()
        && SINKS.set(counters).is_ok()
    {
        std::thread::Builder::new()
            .name("log-reporter".into())
            .spawn(report_lost_lines)
            .map_err(|e| TelemetryError(e.to_string()))?;
    }
    Ok(())
}

/// The log sinks as they are set up: their layers, the queues to flush at exit, and the
/// counters of the lines each could not deliver.
#[derive(Default)]
struct Sinks {
    layers: Vec<BoxedLayer>,
    queues: Vec<WorkerGuard>,
    counters: Vec<SinkCounters>,
}

impl Sinks {
    fn stdout(&mut self, stdout: &StdoutSink) {
        let out = Sink::new("stdout", stdout.nonblocking, stdout.queue_capacity);
        let ansi = std::io::stdout().is_terminal();
        // Through the queue, lines reach stdout in batches: one write for every line
        // waiting, flushed as soon as the queue is empty (a lone line is never held back).
        let batched = BufWriter::with_capacity(BATCH_BYTES, std::io::stdout());
        let layer = match out.queue(batched, &mut self.queues, &mut self.counters) {
            Writer::Queued(writer) => fmt_layer(stdout.format, writer, ansi),
            Writer::Direct(_) => fmt_layer(stdout.format, std::io::stdout, ansi),
        };
        self.layers.push(layer);
    }

    fn file(&mut self, file: &FileSink) -> Result<(), TelemetryError> {
        let mut builder = rolling::Builder::new()
            .rotation(match file.rotation {
                Rotation::Minutely => rolling::Rotation::MINUTELY,
                Rotation::Hourly => rolling::Rotation::HOURLY,
                Rotation::Daily => rolling::Rotation::DAILY,
                Rotation::Weekly => rolling::Rotation::WEEKLY,
                Rotation::Never => rolling::Rotation::NEVER,
            })
            .filename_prefix(file.prefix.as_deref().unwrap_or(SERVICE))
            .filename_suffix(&file.suffix);
        if file.max_files > 0 {
            builder = builder.max_log_files(file.max_files);
        }
        let appender: RollingFileAppender = builder.build(&file.directory).map_err(|e| {
            TelemetryError(format!(
                "log.file.directory {}: {e}",
                file.directory.display()
            ))
        })?;
        let out = Sink::new("file", file.nonblocking, file.queue_capacity);
        let layer = match out.queue(appender, &mut self.queues, &mut self.counters) {
            Writer::Queued(writer) => fmt_layer(file.format, writer, false),
            Writer::Direct(writer) => fmt_layer(file.format, Mutex::new(writer), false),
        };
        self.layers.push(with_level(layer, file.level.as_ref()));
        Ok(())
    }

    fn syslog(&mut self, syslog: &SyslogSink, hostname: &str) {
        let facility = syslog.facility.code();
        let app_name = syslog.app_name.as_deref().unwrap_or(SERVICE);
        let out = Sink::new("syslog", syslog.nonblocking, syslog.queue_capacity);
        let transport = syslog::transport(&syslog.address);
        let layer: BoxedLayer = match out.connect(transport, &mut self.queues, &mut self.counters) {
            Writer::Queued(w) => syslog::SyslogLayer::new(w, facility, hostname, app_name).boxed(),
            Writer::Direct(w) => {
                syslog::SyslogLayer::new(Mutex::new(w), facility, hostname, app_name).boxed()
            }
        };
        self.layers.push(with_level(layer, syslog.level.as_ref()));
    }

    fn gelf(&mut self, gelf: &GelfSink, hostname: &str) -> Result<(), TelemetryError> {
        let address = gelf.address.clone();
        let transport = if gelf.tls {
            let config = net::tls_config(gelf.ca_file.as_deref()).map_err(TelemetryError)?;
            Transport::Tls(address, net::Framing::NulTerminated, config)
        } else {
            Transport::Tcp(address, net::Framing::NulTerminated)
        };
        let out = Sink::new("gelf", gelf.nonblocking, gelf.queue_capacity);
        let extra = || gelf.extra_fields.exposed();
        let layer: BoxedLayer = match out.connect(transport, &mut self.queues, &mut self.counters) {
            Writer::Queued(w) => gelf::GelfLayer::new(w, hostname, extra()).boxed(),
            Writer::Direct(w) => gelf::GelfLayer::new(Mutex::new(w), hostname, extra()).boxed(),
        };
        self.layers.push(with_level(layer, gelf.level.as_ref()));
        Ok(())
    }
}

/// The log filter (`log.level` or `RUST_LOG`), applied to everything, except that with
/// `spans` (tracing on) every span at INFO or above is let through whatever the filter
/// says: `log.level` chooses the lines logged, not what is traced.
struct LogLevel {
    filter: EnvFilter,
    spans: bool,
}

impl LogLevel {
    fn forced(&self, metadata: &Metadata<'_>) -> bool {
        self.spans && metadata.is_span() && *metadata.level() <= tracing::Level::INFO
    }
}

impl<S> Layer<S> for LogLevel
where
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // Asked in any case: the filter notes the callsites its span directives name.
        let interest = Layer::<S>::register_callsite(&self.filter, metadata);
        if self.forced(metadata) {
            Interest::always()
        } else {
            interest
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.forced(metadata) || Layer::enabled(&self.filter, metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        let hint = Layer::<S>::max_level_hint(&self.filter);
        if self.spans {
            hint.map(|hint| hint.max(tracing::level_filters::LevelFilter::INFO))
        } else {
            hint
        }
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        Layer::on_new_span(&self.filter, attrs, id, ctx);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        Layer::on_record(&self.filter, id, values, ctx);
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        Layer::on_enter(&self.filter, id, ctx);
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        Layer::on_exit(&self.filter, id, ctx);
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        Layer::on_close(&self.filter, id, ctx);
    }
}

/// One sink being set up: how it hands over its lines.
struct Sink {
    name: &'static str,
    nonblocking: bool,
    capacity: usize,
    lost: Arc<Lost>,
}

/// A sink's writer: through a queue, or in the logging thread.
enum Writer<W> {
    Queued(tracing_appender::non_blocking::NonBlocking),
    Direct(W),
}

impl Sink {
    fn new(name: &'static str, nonblocking: bool, capacity: usize) -> Self {
        Self {
            name,
            nonblocking,
            capacity,
            lost: Arc::new(Lost::default()),
        }
    }

    fn queue<W: std::io::Write + Send + 'static>(
        self,
        writer: W,
        queues: &mut Vec<WorkerGuard>,
        counters: &mut Vec<SinkCounters>,
    ) -> Writer<W> {
        if !self.nonblocking {
            counters.push(SinkCounters {
                name: self.name,
                queue: None,
                lost: self.lost,
            });
            return Writer::Direct(writer);
        }
        let (queue, guard) = NonBlockingBuilder::default()
            .lossy(true)
            .buffered_lines_limit(self.capacity)
            .thread_name(&format!("log-{}", self.name))
            .finish(writer);
        queues.push(guard);
        counters.push(SinkCounters {
            name: self.name,
            queue: Some(queue.error_counter()),
            lost: self.lost,
        });
        Writer::Queued(queue)
    }

    fn connect(
        self,
        transport: Transport,
        queues: &mut Vec<WorkerGuard>,
        counters: &mut Vec<SinkCounters>,
    ) -> Writer<Reconnecting> {
        let writer = Reconnecting::new(self.name, transport, self.lost.clone());
        self.queue(writer, queues, counters)
    }
}

fn fmt_layer<W>(format: LogFormat, writer: W, ansi: bool) -> BoxedLayer
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(ansi);
    match format {
        // Source locations under the service's own events only.
        LogFormat::Pretty => layer
            .pretty()
            .event_format(pretty::OwnLocations::default())
            .boxed(),
        LogFormat::Compact => layer.compact().boxed(),
        // Every span's fields (`spans`, outermost first): the request id stays on lines
        // written inside nested spans.
        LogFormat::Json => layer
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines(trace::JsonLineIds))
            .boxed(),
    }
}

/// A sink's own filter, narrowing the global one.
fn with_level(layer: BoxedLayer, level: Option<&LogFilter>) -> BoxedLayer {
    match level {
        Some(filter) => layer.with_filter(EventFilter(filter.build())).boxed(),
        None => layer,
    }
}

/// Filters a sink's events but lets every span through: a layer only sees the spans its
/// filter enables, and the spans carry the request and task ids its lines must show.
struct EventFilter(EnvFilter);

impl<S: Subscriber> Filter<S> for EventFilter {
    fn enabled(&self, metadata: &Metadata<'_>, cx: &Context<'_, S>) -> bool {
        metadata.is_span() || Filter::enabled(&self.0, metadata, cx)
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if metadata.is_span() {
            Interest::always()
        } else {
            Filter::<S>::callsite_enabled(&self.0, metadata)
        }
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        Filter::on_new_span(&self.0, attrs, id, ctx);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        Filter::on_record(&self.0, id, values, ctx);
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        Filter::on_enter(&self.0, id, ctx);
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        Filter::on_exit(&self.0, id, ctx);
    }

    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        Filter::on_close(&self.0, id, ctx);
    }
}

/// Logs a warning when a sink dropped lines since the last look.
fn report_lost_lines() {
    let mut seen = lost_lines();
    loop {
        std::thread::sleep(REPORT_EVERY);
        let now = lost_lines();
        for ((sink, total), (_, before)) in now.iter().zip(&seen) {
            if total > before {
                tracing::warn!(
                    sink,
                    dropped = total - before,
                    total,
                    "log lines dropped: the sink is slow or unreachable"
                );
            }
        }
        seen = now;
    }
}

/// This machine's name, for syslog and GELF messages and Sentry events.
pub fn hostname() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".into())
}
