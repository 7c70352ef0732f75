//! The layer on a subscriber of its own, exporting to memory.
use std::sync::{Arc, Mutex};

use opentelemetry::trace::{SpanId, SpanKind, Status, TraceId};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tracing_subscriber::layer::SubscriberExt;

use super::layer::{Shared, SpanLayer};
use super::*;
use crate::config::Settings;
use crate::platform::captured::Lines;

/// Spans exported, kept for the test to read.
#[derive(Debug, Clone, Default)]
struct Collected(Arc<Mutex<Vec<SpanData>>>);

impl SpanExporter for Collected {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// Runs `body` under a subscriber with the layer (sampling `ratio` of new traces), then
/// stops the export thread and returns what it exported.
fn traced(ratio: f64, body: impl FnOnce()) -> Vec<SpanData> {
    let mut settings = Settings::defaults().expect("defaults").trace;
    settings.sample_ratio = ratio;
    settings.batch_delay_ms = 1;
    let collected = Collected::default();
    let (queue, stopper) = export::start(collected.clone(), &settings).expect("started");
    let layer = SpanLayer::new(Arc::new(Shared::new(&settings, queue)));
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), body);
    drop(stopper);
    collected.0.lock().unwrap().clone()
}

/// Turns on [`is_on`] for the helpers that check it (the layer itself does not).
fn turn_on() {
    let settings = Settings::defaults().expect("defaults").trace;
    let (queue, stopper) = export::start(Collected::default(), &settings).expect("started");
    std::mem::forget(stopper);
    SHARED.get_or_init(|| Arc::new(Shared::new(&settings, queue)));
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[test]
fn a_request_continues_its_callers_trace_and_follows_the_http_conventions() {
    turn_on();
    let caller = TraceContext {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        tracestate: "vendor=opaque".into(),
    };
    let mut carried = None;
    let spans = traced(0.0, || {
        let parent = continue_from(Some(&caller));
        let request = tracing::info_span!(
            "request",
            request_id = "r-1",
            method = %"POST",
            uri = %"/v1/persons/7/birthday?token=s3cret",
            route = "/v1/persons/{id}/birthday",
        );
        drop(parent);
        with_traced(&request, |traced| traced.http_status(503));
        let _entered = request.enter();
        tracing::info!("an info line is not an event of the span");
        tracing::error!(cause = "disk full", "request failed");
        carried = current();
    });

    assert_eq!(spans.len(), 1, "{spans:?}");
    let span = &spans[0];
    assert_eq!(span.name, "POST /v1/persons/{id}/birthday");
    assert_eq!(span.span_kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id(),
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
    );
    assert_eq!(
        span.parent_span_id,
        SpanId::from_hex("b7ad6b7169203331").unwrap()
    );
    assert!(span.parent_span_is_remote);
    assert_eq!(span.span_context.trace_state().header(), "vendor=opaque");
    assert_eq!(
        attribute(span, "http.request.method").as_deref(),
        Some("POST")
    );
    assert_eq!(
        attribute(span, "http.route").as_deref(),
        Some("/v1/persons/{id}/birthday")
    );
    assert_eq!(
        attribute(span, "url.path").as_deref(),
        Some("/v1/persons/7/birthday")
    );
    assert_eq!(attribute(span, "request_id").as_deref(), Some("r-1"));
    assert_eq!(
        attribute(span, "http.response.status_code").as_deref(),
        Some("503")
    );
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(span.events.len(), 1, "only the error: {:?}", span.events);
    assert_eq!(span.events[0].name, "request failed");
    let everything = format!("{span:?}");
    assert!(!everything.contains("s3cret"), "{everything}");

    // A task scheduled in the request carries its context, and continues it.
    let carried = carried.expect("a context to carry");
    assert_eq!(
        carried.traceparent,
        format!(
            "00-0af7651916cd43dd8448eb211c80319c-{}-01",
            span.span_context.span_id()
        )
    );
    assert_eq!(carried.tracestate, "vendor=opaque");
    let spans = traced(0.0, || {
        let parent = continue_from(Some(&carried));
        let task = tracing::info_span!(
            "task",
            task = "persons.add_one_year",
            task_id = "t-1",
            attempt = 2_u32
        );
        drop(parent);
        drop(task);
    });
    assert_eq!(spans.len(), 1);
    let task = &spans[0];
    assert_eq!(task.name, "persons.add_one_year");
    assert_eq!(task.span_kind, SpanKind::Consumer);
    assert_eq!(task.parent_span_id, span.span_context.span_id());
    assert_eq!(task.span_context.trace_id(), span.span_context.trace_id());
    assert_eq!(attribute(task, "task.attempt").as_deref(), Some("2"));
    assert_eq!(attribute(task, "task.id").as_deref(), Some("t-1"));
}

#[test]
fn a_sampled_out_trace_records_nothing_and_says_so_downstream() {
    turn_on();
    let mut carried = None;
    let spans = traced(0.0, || {
        let request = tracing::info_span!("request", method = %"GET", route = "/v1/persons");
        let _entered = request.enter();
        let inner = tracing::info_span!("inner");
        let _inner = inner.enter();
        tracing::error!("not recorded either");
        carried = current();
    });
    assert!(spans.is_empty(), "{spans:?}");
    let carried = carried.expect("the decision is carried");
    assert!(carried.traceparent.ends_with("-00"), "{carried:?}");

    // A caller's "not sampled" holds too, and is followed by the task it schedules.
    let spans = traced(1.0, || {
        let parent = continue_from(Some(&carried));
        let task = tracing::info_span!("task", task = "x");
        drop(parent);
        let _entered = task.enter();
        tracing::info_span!("child").in_scope(|| {});
    });
    assert!(spans.is_empty(), "{spans:?}");
}

#[test]
fn children_share_the_trace_and_name_their_parent() {
    let spans = traced(1.0, || {
        let request = tracing::info_span!("request", method = %"GET", route = "unmatched");
        let _entered = request.enter();
        tracing::info_span!("work", items = 3_u64).in_scope(|| {});
    });
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (work, request) = (&spans[0], &spans[1]);
    assert_eq!(request.name, "GET", "no route: the method alone");
    assert_eq!(attribute(request, "http.route"), None);
    assert_eq!(request.parent_span_id, SpanId::INVALID);
    assert_eq!(work.name, "work");
    assert_eq!(work.span_kind, SpanKind::Internal);
    assert_eq!(attribute(work, "items").as_deref(), Some("3"));
    assert_eq!(work.parent_span_id, request.span_context.span_id());
    assert_eq!(
        work.span_context.trace_id(),
        request.span_context.trace_id()
    );
}

#[test]
fn the_ratio_picks_the_same_traces_as_the_sdk_and_about_its_share() {
    use opentelemetry_sdk::trace::{Sampler as Sdk, SamplingDecision, ShouldSample};

    let sdk = Sdk::TraceIdRatioBased(0.25);
    let settings = Settings::defaults().expect("defaults").trace;
    let (queue, _stopper) = export::start(Collected::default(), &settings).expect("started");
    let mut settings = settings;
    settings.sample_ratio = 0.25;
    let shared = Shared::new(&settings, queue);
    let mut sampled = 0;
    for _ in 0..4000 {
        let (context, ours) = shared.child_of(None);
        let theirs =
            sdk.should_sample(None, context.trace_id(), "x", &SpanKind::Internal, &[], &[]);
        assert_eq!(
            ours,
            theirs.decision == SamplingDecision::RecordAndSample,
            "{context:?}"
        );
        assert_eq!(context.is_sampled(), ours);
        sampled += usize::from(ours);
    }
    assert!((800..1200).contains(&sampled), "{sampled} of 4000 at 0.25");
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_waiting() {
    /// An exporter that never answers until the test lets it.
    #[derive(Debug, Clone)]
    struct Stuck(Arc<Mutex<()>>);

    impl SpanExporter for Stuck {
        async fn export(&self, _batch: Vec<SpanData>) -> OTelSdkResult {
            drop(self.0.lock());
            Err(opentelemetry_sdk::error::OTelSdkError::Timeout(
                std::time::Duration::ZERO,
            ))
        }
    }

    let gate = Arc::new(Mutex::new(()));
    let held = gate.lock().unwrap();
    let mut settings = Settings::defaults().expect("defaults").trace;
    settings.queue_capacity = 4;
    settings.batch_size = 1;
    settings.batch_delay_ms = 1;
    settings.shutdown_timeout_ms = 5000;
    let (queue, stopper) = export::start(Stuck(gate.clone()), &settings).expect("started");
    let shared = Arc::new(Shared::new(&settings, queue));
    let layer = SpanLayer::new(shared.clone());
    let started = std::time::Instant::now();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        for _ in 0..100 {
            tracing::info_span!("busy").in_scope(|| {});
        }
    });
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "ending spans never waits on the exporter"
    );
    let stats = shared.queue.stats();
    assert!(stats.queue_full >= 90, "{stats:?}");
    drop(held);
    drop(stopper);
    let stats = shared.queue.stats();
    assert_eq!(stats.exported, 0);
    assert_eq!(
        stats.queue_full + stats.export_failed,
        100,
        "every span is counted: {stats:?}"
    );
}

#[test]
fn json_lines_carry_the_trace_of_a_recorded_span() {
    turn_on();
    let lines = Lines::default();
    let mut settings = Settings::defaults().expect("defaults").trace;
    settings.sample_ratio = 1.0;
    let (queue, _stopper) = export::start(Collected::default(), &settings).expect("started");
    let layer = SpanLayer::new(Arc::new(Shared::new(&settings, queue)));
    let subscriber = tracing_subscriber::registry().with(layer).with(
        tracing_subscriber::fmt::layer()
            .with_writer(lines.clone())
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(crate::platform::json_log::JsonLines(JsonLineIds)),
    );
    let mut ids = None;
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside any span");
        let request = tracing::info_span!("request", request_id = "r-2");
        let _entered = request.enter();
        ids = with_traced(&request, |traced| traced.context.clone());
        tracing::info!("inside");
    });
    let text = lines.take();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let context = ids.expect("traced");
    assert!(lines[0].get("trace_id").is_none(), "{text}");
    assert_eq!(
        lines[1]["trace_id"],
        context.trace_id().to_string(),
        "{text}"
    );
    assert_eq!(lines[1]["span_id"], context.span_id().to_string(), "{text}");
    assert_eq!(lines[1]["spans"][0]["request_id"], "r-2", "{text}");
}
