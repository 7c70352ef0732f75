//! GELF 1.1 messages (Graylog and compatible inputs) over TCP, optionally TLS.
use std::io::Write;

use serde_json::{Map, Value};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::record::{Record, outside_sinks};
use super::syslog::severity;

/// Writes each event as one GELF message.
pub struct GelfLayer<W> {
    writer: W,
    host: String,
    /// Configured fields, already `_`-prefixed.
    extra: Vec<(String, Value)>,
}

impl<W> GelfLayer<W> {
    /// `extra_fields` are sent with their real values (tokens included).
    pub fn new<'a>(
        writer: W,
        host: &str,
        extra_fields: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Self {
        let extra = extra_fields
            .into_iter()
            .map(|(name, value)| (field_name(name), Value::String(value.to_owned())))
            .collect();
        Self {
            writer,
            host: host.to_owned(),
            extra,
        }
    }

    /// The message as one JSON object: the standard fields, then every field of the
    /// event and its spans as an `_`-prefixed additional field, then the configured ones.
    pub fn format(&self, record: &Record) -> Vec<u8> {
        let mut message = Map::new();
        message.insert("version".into(), "1.1".into());
        message.insert("host".into(), self.host.clone().into());
        let short = record.message.lines().next().unwrap_or_default();
        message.insert("short_message".into(), short.into());
        if short.len() < record.message.len() {
            message.insert("full_message".into(), record.message.clone().into());
        }
        let micros = record.time.timestamp_micros();
        message.insert("timestamp".into(), (micros as f64 / 1e6).into());
        message.insert("level".into(), severity(record.level).into());
        message.insert("_target".into(), record.target.clone().into());
        if let Some(file) = &record.file {
            message.insert("_file".into(), file.clone().into());
        }
        if let Some(line) = record.line {
            message.insert("_line".into(), line.into());
        }
        for (name, value) in record.all_fields() {
            let value = match value {
                Value::Number(_) | Value::String(_) => value.clone(),
                other => other.to_string().into(),
            };
            message.insert(field_name(name), value);
        }
        for (name, value) in &self.extra {
            message.insert(name.clone(), value.clone());
        }
        serde_json::to_vec(&message).unwrap_or_default()
    }
}

impl<S, W> Layer<S> for GelfLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        outside_sinks(event.metadata().target(), || {
            let message = self.format(&Record::new(event, &ctx));
            let _ = self.writer.make_writer().write_all(&message);
        });
    }
}

/// `_name` with the characters GELF refuses replaced; `id` (reserved) becomes `_id_`.
fn field_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if clean == "id" {
        "_id_".into()
    } else {
        format!("_{clean}")
    }
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::*;

    #[test]
    fn a_message_has_the_gelf_fields_and_the_extra_ones() {
        let layer = GelfLayer::new((), "web-1", [("token", "s3cret")]);
        let record = Record {
            time: "2026-11-28T10:00:00.25Z".parse().unwrap(),
            level: Level::ERROR,
            target: "acme::api".into(),
            file: Some("src/api/error.rs".into()),
            line: Some(7),
            message: "request failed\ncause: disk full".into(),
            fields: vec![
                ("status", 500.into()),
                ("id", 3.into()),
                ("ok", false.into()),
            ],
            context: vec![("request_id", "abc".into())],
        };

        let message: Value = serde_json::from_slice(&layer.format(&record)).unwrap();

        assert_eq!(message["version"], "1.1");
        assert_eq!(message["host"], "web-1");
        assert_eq!(message["short_message"], "request failed");
        assert_eq!(message["full_message"], "request failed\ncause: disk full");
        assert_eq!(message["timestamp"], 1_795_860_000.25);
        assert_eq!(message["level"], 3);
        assert_eq!(message["_request_id"], "abc");
        assert_eq!(message["_status"], 500);
        assert_eq!(message["_id_"], 3);
        assert_eq!(message["_ok"], "false");
        assert_eq!(message["_token"], "s3cret");
        assert_eq!(message["_line"], 7);
        assert!(message.get("_id").is_none());
    }
}
