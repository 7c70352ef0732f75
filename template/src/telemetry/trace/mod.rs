//! Distributed traces: OpenTelemetry spans for requests, their database queries and the
//! tasks they schedule, exported over OTLP/HTTP (protobuf) to Jaeger, Tempo or any
//! collector, when `trace.endpoint` is set.
//!
//! The service's `tracing` spans become OpenTelemetry spans ([`layer`]): the request span
//! (HTTP server conventions: route template, method, status, request id), the worker's
//! task span (name, id, attempt), and a client span per SQL statement run inside them
//! ([`query`]: its kind and table, never its text or values). W3C Trace Context crosses
//! the edges: an incoming `traceparent` continues the caller's trace ([`http`]), and a
//! scheduled task carries the scheduling span's context in its message ([`current`],
//! [`continue_from`]), so that the worker's run is that span's child, in another process.
//!
//! Spans leave in batches from a bounded queue, on a thread of their own ([`export`]): a
//! collector that is down, slow or silent never holds a request or a task up; what does
//! not fit, or could not be delivered, is counted ([`stats`], on `/metrics`).
//!
//! Off (no endpoint), none of this is installed: no layer, no header read, no callback.
use std::sync::{Arc, OnceLock};

use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde::{Deserialize, Serialize};
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use crate::config::{Environment, TraceSettings};

mod export;
pub mod http;
mod layer;
pub mod query;

pub use export::Stats;
pub use layer::{RemoteParent, SpanLayer};
use layer::{Shared, Traced};

/// What every part of the tracing set-up shares; set once, when tracing is on.
static SHARED: OnceLock<Arc<Shared>> = OnceLock::new();

/// Whether this process exports traces.
pub fn is_on() -> bool {
    SHARED.get().is_some()
}

/// Spans exported and dropped so far; `None` when tracing is off.
pub fn stats() -> Option<Stats> {
    SHARED.get().map(|shared| shared.queue.stats())
}

/// Keeps the export thread; dropping it sends what is queued, within
/// `trace.shutdown_timeout_ms`.
#[must_use = "spans still queued are lost when the guard is dropped"]
pub struct Exporting {
    _stopper: export::Stopper,
}

/// Starts the export thread and returns the layer that turns spans into OpenTelemetry
/// spans, or `None` when `trace.endpoint` is unset.
pub fn init(
    settings: &TraceSettings,
    env: Environment,
    hostname: &str,
) -> Result<Option<(SpanLayer, Exporting)>, String> {
    let Some(endpoint) = &settings.endpoint else {
        return Ok(None);
    };
    let exporter = export::otlp(
        settings,
        endpoint,
        &export::resource(settings, env, hostname),
    )?;
    let (queue, stopper) = export::start(exporter, settings)?;
    let shared = Arc::new(Shared::new(settings, queue));
    // One set-up per process (tests may build several apps in one).
    let shared = SHARED.get_or_init(|| shared).clone();
    let exporting = Exporting { _stopper: stopper };
    Ok(Some((SpanLayer::new(shared), exporting)))
}

/// A span's W3C Trace Context, as a task's message carries it to the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceContext {
    /// `00-{trace id}-{span id}-{flags}`, as in the W3C `traceparent` header.
    pub traceparent: String,
    /// Vendors' entries, as in the `tracestate` header; often empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tracestate: String,
}

/// The context of the current span, to carry into a task scheduled now; `None` when
/// tracing is off or no span is traced. A trace that is not sampled is carried too, so
/// that the task is not sampled either.
pub fn current() -> Option<TraceContext> {
    if !is_on() {
        return None;
    }
    let context = with_traced(&tracing::Span::current(), |traced| traced.context.clone())?;
    context.is_valid().then(|| TraceContext {
        traceparent: format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        ),
        tracestate: context.trace_state().header(),
    })
}

/// Makes the next span created on this thread continue `parent`, a context carried from
/// another process (unless it is invalid, or tracing is off), until the guard is dropped:
/// create the span, then drop the guard.
pub fn continue_from(parent: Option<&TraceContext>) -> RemoteParent {
    let remote = parent
        .filter(|_| is_on())
        .map(|carried| extract(&Carried(carried)))
        .filter(SpanContext::is_valid);
    layer::remote_parent(remote)
}

/// The W3C Trace Context in `headers` (`traceparent`, `tracestate`), as the standard
/// propagator reads it: invalid values are ignored.
fn extract(headers: &dyn Extractor) -> SpanContext {
    TraceContextPropagator::new()
        .extract(headers)
        .span()
        .span_context()
        .clone()
}

/// A carried context, read as headers.
struct Carried<'a>(&'a TraceContext);

impl Extractor for Carried<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => Some(&self.0.traceparent),
            "tracestate" => Some(&self.0.tracestate),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// The ids a log line written in a traced span carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogIds {
    /// The trace's id (32 hex digits when printed).
    pub trace_id: TraceId,
    /// The id of the span the line was written in (16 hex digits).
    pub span_id: opentelemetry::trace::SpanId,
}

/// The ids of the nearest span of `scope` (innermost first) that is sampled: what a log
/// line written there carries. `None` when tracing is off or the trace is not recorded.
pub fn log_ids<'a, R: LookupSpan<'a> + 'a>(
    scope: impl IntoIterator<Item = tracing_subscriber::registry::SpanRef<'a, R>>,
) -> Option<LogIds> {
    if !is_on() {
        return None;
    }
    scope.into_iter().find_map(|span| {
        let extensions = span.extensions();
        let context = &extensions.get::<Traced>()?.context;
        context.is_sampled().then(|| LogIds {
            trace_id: context.trace_id(),
            span_id: context.span_id(),
        })
    })
}

/// What JSON log lines carry of their trace: the ids of [`log_ids`].
pub struct JsonLineIds;

impl crate::platform::json_log::TraceIds for JsonLineIds {
    fn ids<'a, R: LookupSpan<'a> + 'a>(
        &self,
        scope: tracing_subscriber::registry::Scope<'a, R>,
    ) -> Option<(impl std::fmt::Display, impl std::fmt::Display)> {
        log_ids(scope).map(|ids| (ids.trace_id, ids.span_id))
    }
}

/// Runs `f` on what the layer keeps for `span`, if it keeps anything.
fn with_traced<R>(span: &tracing::Span, f: impl FnOnce(&mut Traced) -> R) -> Option<R> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        let data = registry.span(id)?;
        let mut extensions = data.extensions_mut();
        extensions.get_mut::<Traced>().map(f)
    })
    .flatten()
}

#[cfg(test)]
mod tests;
