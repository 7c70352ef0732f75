//! From `tracing` spans to OpenTelemetry spans.
//!
//! Each span gets its W3C context when it is created (sampled or not: the context is what
//! goes on to the tasks it schedules); a sampled one also records a span, sent to the
//! export queue when it closes. The service's own spans are shaped by name after the
//! semantic conventions: `request` is an HTTP server span named `METHOD /route`, `task`
//! a consumer span named after the task; any other span keeps its name and fields.
//! Warnings and errors logged inside a recorded span become its events (an error also
//! sets its status); other log lines do not (the logs have them, with the trace id).
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SpanData, SpanEvents, SpanLinks};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::export::Queue;
use crate::config::TraceSettings;

/// Most events one span keeps; later ones are counted as dropped.
const MAX_EVENTS: usize = 64;

/// What the layer, the query spans and the HTTP glue share.
pub(super) struct Shared {
    pub(super) queue: Queue,
    sampler: Sampler,
    ids: RandomIdGenerator,
    scope: InstrumentationScope,
}

impl Shared {
    pub(super) fn new(settings: &TraceSettings, queue: Queue) -> Self {
        Self {
            queue,
            sampler: Sampler {
                ratio: settings.sample_ratio,
                parent_based: settings.parent_based,
            },
            ids: RandomIdGenerator::default(),
            scope: InstrumentationScope::builder(env!("CARGO_PKG_NAME"))
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        }
    }

    /// The context of a new span under `parent`, and whether it is recorded.
    pub(super) fn child_of(&self, parent: Option<&SpanContext>) -> (SpanContext, bool) {
        match parent.filter(|parent| parent.is_valid()) {
            Some(parent) => {
                if !self.sampler.samples(Some(parent), parent.trace_id()) {
                    // Not recorded: the parent's context is what goes on.
                    let flags = parent.trace_flags().with_sampled(false);
                    let context = SpanContext::new(
                        parent.trace_id(),
                        parent.span_id(),
                        flags,
                        parent.is_remote(),
                        parent.trace_state().clone(),
                    );
                    return (context, false);
                }
                let context = SpanContext::new(
                    parent.trace_id(),
                    self.ids.new_span_id(),
                    TraceFlags::SAMPLED,
                    false,
                    parent.trace_state().clone(),
                );
                (context, true)
            }
            None => {
                let trace_id = self.ids.new_trace_id();
                let sampled = self.sampler.samples(None, trace_id);
                let flags = if sampled {
                    TraceFlags::SAMPLED
                } else {
                    TraceFlags::NOT_SAMPLED
                };
                let context = SpanContext::new(
                    trace_id,
                    self.ids.new_span_id(),
                    flags,
                    false,
                    TraceState::NONE,
                );
                (context, sampled)
            }
        }
    }

    /// A finished span, ready for export.
    pub(super) fn finished(
        &self,
        context: SpanContext,
        parent: Option<&SpanContext>,
        recording: Recording,
        end_time: SystemTime,
    ) -> SpanData {
        let mut events = SpanEvents::default();
        events.events = recording.events;
        events.dropped_count = recording.dropped_events;
        SpanData {
            span_context: context,
            parent_span_id: parent.map_or(SpanId::INVALID, SpanContext::span_id),
            parent_span_is_remote: parent.is_some_and(SpanContext::is_remote),
            span_kind: recording.kind,
            name: recording.name,
            start_time: recording.start_time,
            end_time,
            attributes: recording.attributes,
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status: recording.status,
            instrumentation_scope: self.scope.clone(),
        }
    }
}

/// Parent-based ratio sampling: a span with a parent follows the parent's decision (unless
/// `parent_based` is off); a new trace is recorded for a `ratio` share of trace ids, the
/// same ones the OpenTelemetry SDK's `TraceIdRatioBased` picks.
#[derive(Debug, Clone, Copy)]
struct Sampler {
    ratio: f64,
    parent_based: bool,
}

impl Sampler {
    fn samples(self, parent: Option<&SpanContext>, trace_id: TraceId) -> bool {
        match parent {
            Some(parent) if self.parent_based => parent.is_sampled(),
            _ if self.ratio >= 1.0 => true,
            _ => {
                let bound = (self.ratio.max(0.0) * (1u64 << 63) as f64) as u64;
                let low = u128::from_be_bytes(trace_id.to_bytes()) as u64;
                (low >> 1) < bound
            }
        }
    }
}

/// What the layer keeps in each span: its context and, when sampled, its recording.
pub(super) struct Traced {
    pub(super) context: SpanContext,
    parent: Option<SpanContext>,
    recording: Option<Box<Recording>>,
}

impl Traced {
    /// Adds attributes to the span, if it is recorded.
    pub(super) fn set(&mut self, attributes: impl IntoIterator<Item = KeyValue>) {
        if let Some(recording) = &mut self.recording {
            recording.attributes.extend(attributes);
        }
    }

    /// Records the HTTP status of a request's answer; a 5xx is an error (a 4xx is the
    /// client's, not the server's: the conventions leave it unset).
    pub(super) fn http_status(&mut self, status: u16) {
        if let Some(recording) = &mut self.recording {
            recording.attributes.push(KeyValue::new(
                "http.response.status_code",
                i64::from(status),
            ));
            if status >= 500 && matches!(recording.status, Status::Unset) {
                recording.status = Status::error(status.to_string());
            }
        }
    }
}

/// A sampled span being recorded.
pub(super) struct Recording {
    pub(super) kind: SpanKind,
    pub(super) name: Cow<'static, str>,
    pub(super) start_time: SystemTime,
    pub(super) attributes: Vec<KeyValue>,
    events: Vec<Event>,
    dropped_events: u32,
    pub(super) status: Status,
}

impl Recording {
    pub(super) fn new(kind: SpanKind, name: Cow<'static, str>, start_time: SystemTime) -> Self {
        Self {
            kind,
            name,
            start_time,
            attributes: Vec::new(),
            events: Vec::new(),
            dropped_events: 0,
            status: Status::Unset,
        }
    }
}

thread_local! {
    /// The parent, from another process, of the next span made on this thread (see
    /// [`with_remote_parent`]).
    static REMOTE_PARENT: RefCell<Option<SpanContext>> = const { RefCell::new(None) };
}

/// Makes the next span created on this thread, whatever span is current, a child of
/// `parent` (when given), until the guard is dropped.
pub(super) fn remote_parent(parent: Option<SpanContext>) -> RemoteParent {
    if let Some(parent) = parent {
        REMOTE_PARENT.with(|slot| *slot.borrow_mut() = Some(parent));
    }
    RemoteParent(())
}

/// Forgets the remote parent of [`remote_parent`] if no span took it (even on a panic).
#[must_use = "the parent applies until the guard is dropped"]
pub struct RemoteParent(());

impl Drop for RemoteParent {
    fn drop(&mut self) {
        REMOTE_PARENT.with(|slot| slot.borrow_mut().take());
    }
}

/// The layer that turns `tracing` spans into OpenTelemetry spans; installed only when
/// tracing is on.
pub struct SpanLayer {
    shared: Arc<Shared>,
}

impl SpanLayer {
    pub(super) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }
}

impl<S> Layer<S> for SpanLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let context_of = |id: &Id| {
            let span = ctx.span(id)?;
            let extensions = span.extensions();
            extensions
                .get::<Traced>()
                .map(|traced| traced.context.clone())
        };
        let parent = if let Some(parent) = attrs.parent() {
            context_of(parent)
        } else if attrs.is_contextual() {
            REMOTE_PARENT
                .with(|slot| slot.borrow_mut().take())
                .or_else(|| ctx.current_span().id().and_then(context_of))
        } else {
            None
        };
        let (context, sampled) = self.shared.child_of(parent.as_ref());
        let recording = sampled.then(|| {
            let metadata = attrs.metadata();
            let shape = Shape::of(metadata.name());
            let mut fields = Fields::new(shape);
            attrs.record(&mut Values(&mut fields));
            let mut recording = Recording::new(
                shape.kind(),
                shape.name(metadata.name(), &fields.attributes),
                SystemTime::now(),
            );
            if matches!(shape, Shape::Request) {
                recording
                    .attributes
                    .push(KeyValue::new("url.scheme", "http"));
            }
            recording.attributes.extend(fields.attributes);
            Box::new(recording)
        });
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Traced {
                context,
                parent,
                recording,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        let Some(recording) = extensions
            .get_mut::<Traced>()
            .and_then(|traced| traced.recording.as_mut())
        else {
            return;
        };
        let mut fields = Fields::new(Shape::of(span.name()));
        values.record(&mut Values(&mut fields));
        for value in fields.attributes {
            match recording
                .attributes
                .iter_mut()
                .find(|kept| kept.key == value.key)
            {
                Some(kept) => *kept = value,
                None => recording.attributes.push(value),
            }
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        if level > Level::WARN {
            return;
        }
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(recording) = extensions
            .get_mut::<Traced>()
            .and_then(|traced| traced.recording.as_mut())
        else {
            return;
        };
        let mut fields = EventFields::default();
        event.record(&mut Values(&mut fields));
        let message = fields.message.unwrap_or_default();
        if level == Level::ERROR && matches!(recording.status, Status::Unset) {
            recording.status = Status::error(message.clone());
        }
        if recording.events.len() >= MAX_EVENTS {
            recording.dropped_events += 1;
            return;
        }
        fields
            .attributes
            .push(KeyValue::new("level", level.as_str()));
        recording
            .events
            .push(Event::new(message, SystemTime::now(), fields.attributes, 0));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(traced) = span.extensions_mut().remove::<Traced>() else {
            return;
        };
        if let Some(recording) = traced.recording {
            let data = self.shared.finished(
                traced.context,
                traced.parent.as_ref(),
                *recording,
                SystemTime::now(),
            );
            self.shared.queue.push(data);
        }
    }
}

/// The service's spans that follow a semantic convention, by name.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// `app::request_span`: one HTTP request.
    Request,
    /// The worker's run of a task (`queue::runner`).
    Task,
    Other,
}

impl Shape {
    fn of(name: &str) -> Self {
        match name {
            "request" => Self::Request,
            "task" => Self::Task,
            _ => Self::Other,
        }
    }

    fn kind(self) -> SpanKind {
        match self {
            Self::Request => SpanKind::Server,
            Self::Task => SpanKind::Consumer,
            Self::Other => SpanKind::Internal,
        }
    }

    /// The attribute a field becomes.
    fn key(self, field: &'static str) -> &'static str {
        match (self, field) {
            (Self::Request, "method") => "http.request.method",
            (Self::Request, "route") => "http.route",
            (Self::Request, "uri") => "url.path",
            (Self::Task, "task") => "task.name",
            (Self::Task, "task_id") => "task.id",
            (Self::Task, "attempt") => "task.attempt",
            (_, field) => field,
        }
    }

    /// `GET /v1/persons/{id}` for a request (its method alone when no route matched),
    /// the task's name for a task, the span's own name otherwise.
    fn name(self, span: &'static str, attributes: &[KeyValue]) -> Cow<'static, str> {
        let text = |key: &str| {
            attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.as_str().into_owned())
        };
        match self {
            Self::Request => match (text("http.request.method"), text("http.route")) {
                (Some(method), Some(route)) => format!("{method} {route}").into(),
                (Some(method), None) => method.into(),
                _ => span.into(),
            },
            Self::Task => text("task.name").map_or(span.into(), Cow::Owned),
            Self::Other => span.into(),
        }
    }
}

/// A span's fields as attributes, named by [`Shape::key`].
struct Fields {
    shape: Shape,
    attributes: Vec<KeyValue>,
}

impl Fields {
    fn new(shape: Shape) -> Self {
        Self {
            shape,
            attributes: Vec::new(),
        }
    }

    fn push(&mut self, field: &Field, value: Value) {
        let key = self.shape.key(field.name());
        let value = match (key, value) {
            // The path only: query strings carry tokens too often.
            ("url.path", Value::String(uri)) => {
                let path = uri.as_str().split('?').next().unwrap_or_default();
                Value::from(path.to_owned())
            }
            (_, value) => value,
        };
        // A request that matched no route has no `http.route`.
        if key == "http.route" && !value.as_str().starts_with('/') {
            return;
        }
        self.attributes.push(KeyValue::new(key, value));
    }
}

/// An unsigned value: OTLP integers are signed.
fn integer(value: u64) -> Value {
    match i64::try_from(value) {
        Ok(value) => Value::I64(value),
        Err(_) => Value::from(value.to_string()),
    }
}

/// An event's message and other fields.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    attributes: Vec<KeyValue>,
}

impl EventFields {
    fn push(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => self.message = Some(value.as_str().into_owned()),
            // Added by tracing-log to events from the `log` crate.
            name if name.starts_with("log.") => {}
            name => self.attributes.push(KeyValue::new(name, value)),
        }
    }
}

/// Where a visitor puts the values it reads: a span's attributes or an event's fields.
trait Sink {
    fn push(&mut self, field: &Field, value: Value);
}

impl Sink for Fields {
    fn push(&mut self, field: &Field, value: Value) {
        Fields::push(self, field, value);
    }
}

impl Sink for EventFields {
    fn push(&mut self, field: &Field, value: Value) {
        EventFields::push(self, field, value);
    }
}

/// Reads a span's or an event's fields as OTLP values into a [`Sink`].
struct Values<'a, S>(&'a mut S);

impl<S: Sink> Visit for Values<'_, S> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push(field, integer(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push(field, Value::from(value.to_owned()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.push(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push(field, Value::from(format!("{value:?}")));
    }
}
