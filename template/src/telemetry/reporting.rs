//! Errors to Sentry: every ERROR event (a 5xx, a panic caught in a handler, a task that
//! failed for good ...) becomes a Sentry event tagged with its request id, route or task,
//! the environment, and (tracing on) its trace id. Headers, bodies and configuration are
//! never sent.
use std::collections::BTreeMap;

use sentry::protocol::{Event, Exception, Level};
use serde_json::Value;
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::record::{Record, text};
use crate::config::secret::is_secret_name;
use crate::config::{Environment, SentrySettings};

/// Fields that become Sentry tags (searchable) rather than extra data.
const TAGS: [&str; 9] = [
    "request_id",
    "caller",
    "route",
    "method",
    "status",
    "task",
    "task_id",
    "attempt",
    "trace_id",
];

/// What a caught panic says: its message when it has one (`panic!` with a text), for the
/// ERROR event that reports it.
pub fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("unknown panic")
}

/// Starts the Sentry client when a DSN is configured.
pub fn init(
    settings: &SentrySettings,
    env: Environment,
    server_name: &str,
) -> Option<sentry::ClientInitGuard> {
    let dsn = settings.dsn.as_ref()?.expose().dsn().clone();
    let environment = settings
        .environment
        .clone()
        .unwrap_or_else(|| env.as_str().to_owned());
    let mut options = sentry::ClientOptions::new()
        .environment(environment)
        .release(concat!(
            env!("CARGO_PKG_NAME"),
            "@",
            env!("CARGO_PKG_VERSION")
        ))
        .sample_rate(settings.sample_rate)
        .send_default_pii(false)
        .server_name(server_name.to_owned());
    options.dsn = Some(dsn);
    Some(sentry::init(options))
}

/// Sends ERROR events to Sentry.
///
/// It checks the level itself: behind a per-layer filter it would not see the (INFO)
/// request and task spans, and so lose the request id.
pub struct SentryLayer;

impl<S> Layer<S> for SentryLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            sentry::capture_event(to_event(&Record::new(event, &ctx)));
        }
    }
}

/// The Sentry event for a log record.
pub fn to_event(record: &Record) -> Event<'static> {
    let mut tags = BTreeMap::new();
    let mut extra = BTreeMap::new();
    for (name, value) in record.all_fields() {
        // Fields named like secrets (the one list the config dump uses) are never sent.
        if is_secret_name(name) {
            continue;
        }
        if TAGS.contains(&name) {
            tags.insert(name.to_owned(), text(value));
        } else if name == "uri" {
            // The path only: query strings carry tokens too often.
            let uri = text(value);
            let path = uri.split('?').next().unwrap_or_default();
            extra.insert("path".to_owned(), Value::String(path.to_owned()));
        } else {
            extra.insert(name.to_owned(), value.clone());
        }
    }
    let cause = ["error", "cause", "panic"]
        .iter()
        .find_map(|name| record.fields.iter().find(|(field, _)| field == name))
        .map(|(_, value)| text(value));
    let transaction = match (
        record.get("method"),
        record.get("route"),
        record.get("task"),
    ) {
        (_, _, Some(task)) => Some(text(task)),
        (Some(method), Some(route), None) => Some(format!("{} {}", text(method), text(route))),
        _ => None,
    };
    // The event joins its OpenTelemetry trace: Sentry shows the trace id, and links on it.
    let mut contexts = BTreeMap::new();
    if let (Some(trace_id), Some(span_id)) = (record.get("trace_id"), record.get("span_id"))
        && let (Ok(trace_id), Ok(span_id)) = (text(trace_id).parse(), text(span_id).parse())
    {
        let trace = sentry::protocol::TraceContext {
            trace_id,
            span_id,
            ..Default::default()
        };
        contexts.insert("trace".to_owned(), trace.into());
    }
    Event {
        level: Level::Error,
        contexts,
        logger: Some(record.target.clone()),
        message: Some(record.message.clone()),
        exception: cause
            .map(|cause| {
                vec![Exception {
                    ty: record.message.clone(),
                    value: Some(cause),
                    module: Some(record.target.clone()),
                    ..Default::default()
                }]
            })
            .unwrap_or_default()
            .into(),
        transaction,
        culprit: record
            .file
            .as_ref()
            .map(|file| format!("{file}:{}", record.line.unwrap_or_default())),
        tags,
        extra,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level as TracingLevel;

    use super::*;

    #[test]
    fn an_error_record_becomes_a_tagged_event_without_secrets() {
        let record = Record {
            time: chrono::Utc::now(),
            level: TracingLevel::ERROR,
            target: "acme::api::error".into(),
            file: Some("src/api/error.rs".into()),
            line: Some(80),
            message: "request failed".into(),
            fields: vec![
                ("status", 500.into()),
                ("error", "database is down".into()),
                ("api_token", "s3cret".into()),
            ],
            context: vec![
                ("request_id", "abc".into()),
                ("method", "GET".into()),
                ("uri", "/v1/persons/1?access_token=s3cret".into()),
                ("route", "/v1/persons/{id}".into()),
            ],
        };

        let event = to_event(&record);

        assert_eq!(event.tags["request_id"], "abc");
        assert_eq!(event.tags["route"], "/v1/persons/{id}");
        assert_eq!(event.tags["status"], "500");
        assert_eq!(event.transaction.as_deref(), Some("GET /v1/persons/{id}"));
        assert_eq!(event.extra["path"], "/v1/persons/1");
        assert_eq!(event.exception.values[0].ty, "request failed");
        assert_eq!(
            event.exception.values[0].value.as_deref(),
            Some("database is down")
        );
        let sent = serde_json::to_string(&event).unwrap();
        assert!(!sent.contains("s3cret"), "{sent}");
    }
}
