//! A log event as the network sinks and Sentry see it: message, fields, and the fields of
//! the spans around it (the request id of a request, the task id of a task ...), with the
//! `trace_id` and `span_id` of its trace when one is recorded.
use chrono::{DateTime, Utc};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

thread_local! {
    /// Set while this thread writes to a network sink: events raised meanwhile (by
    /// rustls during a handshake, say) are not sent to the sinks again, which would
    /// re-enter a blocking sink's lock or feed an endless loop.
    static WRITING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `write` unless this thread is already writing to a sink; events of the
/// connection code itself (`rustls` ...) are never sent to network sinks.
pub fn outside_sinks(target: &str, write: impl FnOnce()) {
    if target.starts_with("rustls") || WRITING.with(std::cell::Cell::get) {
        return;
    }
    WRITING.with(|writing| writing.set(true));
    write();
    WRITING.with(|writing| writing.set(false));
}

/// Named values, in the order they were recorded.
pub type Fields = Vec<(&'static str, Value)>;

/// The fields of one span, kept in its extensions.
struct SpanFields(Fields);

/// Keeps the fields of every span so that [`Record`]s can carry them. Installed only when
/// a sink that needs it (syslog, GELF, Sentry) is on.
pub struct SpanFieldsLayer;

impl<S> Layer<S> for SpanFieldsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let mut visitor = Visitor::default();
        attrs.record(&mut visitor);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(visitor.fields));
        }
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut visitor = Visitor::default();
        values.record(&mut visitor);
        let mut extensions = span.extensions_mut();
        if let Some(SpanFields(fields)) = extensions.get_mut::<SpanFields>() {
            for (name, value) in visitor.fields {
                set(fields, name, value);
            }
        }
    }
}

/// One event, ready to be formatted.
#[derive(Debug, Clone)]
pub struct Record {
    pub time: DateTime<Utc>,
    pub level: Level,
    pub target: String,
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
    /// The event's own fields.
    pub fields: Fields,
    /// The fields of the spans the event happened in; an inner span's value wins.
    pub context: Fields,
}

impl Record {
    pub fn new<S>(event: &Event<'_>, ctx: &Context<'_, S>) -> Self
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut visitor = Visitor::default();
        event.record(&mut visitor);
        let mut context = Fields::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(SpanFields(fields)) = span.extensions().get::<SpanFields>() {
                    for (name, value) in fields {
                        set(&mut context, name, value.clone());
                    }
                }
            }
        }
        // The trace the event belongs to (tracing on, and the trace recorded).
        if let Some(ids) = ctx
            .event_scope(event)
            .and_then(|scope| super::trace::log_ids(scope))
        {
            set(&mut context, "trace_id", ids.trace_id.to_string().into());
            set(&mut context, "span_id", ids.span_id.to_string().into());
        }
        Self {
            time: Utc::now(),
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            file: metadata.file().map(str::to_owned),
            line: metadata.line(),
            message: visitor.message.unwrap_or_default(),
            fields: visitor.fields,
            context,
        }
    }

    /// A field of the event or, failing that, of its spans.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .chain(&self.context)
            .find(|(field, _)| *field == name)
            .map(|(_, value)| value)
    }

    /// Span fields then event fields, each name once (the event's value wins).
    pub fn all_fields(&self) -> impl Iterator<Item = (&'static str, &Value)> {
        let shadowed = |name: &str| self.fields.iter().any(|(field, _)| *field == name);
        self.context
            .iter()
            .filter(move |(name, _)| !shadowed(name))
            .chain(&self.fields)
            .map(|(name, value)| (*name, value))
    }
}

/// A value as text: strings as they are, the rest as JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn set(fields: &mut Fields, name: &'static str, value: Value) {
    match fields.iter_mut().find(|(field, _)| *field == name) {
        Some((_, old)) => *old = value,
        None => fields.push((name, value)),
    }
}

#[derive(Default)]
struct Visitor {
    message: Option<String>,
    fields: Fields,
}

impl Visitor {
    fn push(&mut self, field: &Field, value: Value) {
        match field.name() {
            "message" => self.message = Some(text(&value)),
            // Added by tracing-log to events from the `log` crate; the metadata has them.
            name if name.starts_with("log.") => {}
            name => self.fields.push((name, value)),
        }
    }
}

impl Visit for Visitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.push(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, format!("{value:?}").into());
    }
}
