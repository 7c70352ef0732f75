//! JSON log lines: tracing-subscriber's JSON layout (the event's fields flattened, then
//! `target`, then `spans` outermost first), written straight into the line; `trace_id` and
//! `span_id` come after `target` in lines written inside a trace that [`TraceIds`] knows.
//!
//! The stock formatter parses each span's stored fields back into a map on every line it
//! writes, to serialize them again; here the stored text (already a JSON object, written
//! by [`JsonFields`](tracing_subscriber::fmt::format::JsonFields)) is copied as it is.
//! Same bytes out, a fraction of the work: one line per request is on the hot path.
use std::fmt;

use serde::Serializer as _;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::{LookupSpan, Scope};

/// The trace a line joins, read from the spans it is written in.
pub trait TraceIds {
    /// The ids of the trace and of the span that a line written in `scope` (its spans,
    /// innermost first) carries, if any.
    fn ids<'a, R: LookupSpan<'a> + 'a>(
        &self,
        scope: Scope<'a, R>,
    ) -> Option<(impl fmt::Display, impl fmt::Display)>;
}

/// Lines that join no trace.
pub struct NoTraces;

impl TraceIds for NoTraces {
    fn ids<'a, R: LookupSpan<'a> + 'a>(
        &self,
        _: Scope<'a, R>,
    ) -> Option<(impl fmt::Display, impl fmt::Display)> {
        None::<(&str, &str)>
    }
}

/// Formats each event as one JSON object on a line of its own, with the trace ids `T`
/// finds.
pub struct JsonLines<T = NoTraces>(pub T);

impl<S, N, T> FormatEvent<S, N> for JsonLines<T>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    T: TraceIds,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Records bridged from the `log` crate carry their own target.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        writer.write_str("{\"timestamp\":\"")?;
        SystemTime.format_time(&mut writer)?;
        write!(writer, "\",\"level\":\"{}\"", meta.level())?;
        let mut fields = Members {
            writer: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_str(",\"target\":")?;
        string(&mut writer, meta.target())?;
        let leaf = ctx.lookup_current();
        if let Some((trace_id, span_id)) = leaf.as_ref().and_then(|leaf| self.0.ids(leaf.scope())) {
            write!(
                writer,
                ",\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""
            )?;
        }
        if let Some(leaf) = leaf {
            writer.write_str(",\"spans\":[")?;
            for (n, span) in leaf.scope().from_root().enumerate() {
                if n > 0 {
                    writer.write_char(',')?;
                }
                let extensions = span.extensions();
                let stored = extensions
                    .get::<FormattedFields<N>>()
                    .map_or("", |fields| fields.fields.as_str());
                let members = stored
                    .strip_prefix('{')
                    .and_then(|inner| inner.strip_suffix('}'))
                    .unwrap_or("");
                writer.write_char('{')?;
                writer.write_str(members)?;
                if !members.is_empty() {
                    writer.write_char(',')?;
                }
                writer.write_str("\"name\":")?;
                string(&mut writer, span.name())?;
                writer.write_char('}')?;
            }
            writer.write_char(']')?;
        } else if event.parent().and_then(|id| ctx.span(id)).is_some() {
            // An explicit parent but nothing entered: the stock layout lists no spans.
            writer.write_str(",\"spans\":[]")?;
        }
        writer.write_str("}\n")
    }
}

/// Writes an event's fields as members of the object being written, as
/// `tracing_serde::SerdeMapVisitor` serializes them.
struct Members<'a, 'w> {
    writer: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl Members<'_, '_> {
    fn member(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            self.writer.write_char(',')?;
            string(self.writer, field.name())?;
            self.writer.write_char(':')?;
            value(self.writer)
        })();
    }
}

impl Visit for Members<'_, '_> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, |w| json(w, |s| s.serialize_f64(value)));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |w| string(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |w| {
            json(w, |s| s.collect_str(&format_args!("{value:?}")))
        });
    }
}

/// `text` as a JSON string.
fn string(writer: &mut Writer<'_>, text: &str) -> fmt::Result {
    json(writer, |s| s.serialize_str(text))
}

/// Runs `write` with a serde_json serializer that writes into `writer`.
fn json(
    writer: &mut Writer<'_>,
    write: impl FnOnce(&mut serde_json::Serializer<Adaptor<'_, '_>>) -> serde_json::Result<()>,
) -> fmt::Result {
    write(&mut serde_json::Serializer::new(Adaptor(writer))).map_err(|_| fmt::Error)
}

/// `io::Write` onto a `fmt::Write`, for serde_json (which writes whole UTF-8 pieces).
struct Adaptor<'a, 'w>(&'a mut Writer<'w>);

impl std::io::Write for Adaptor<'_, '_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let text = std::str::from_utf8(bytes).map_err(std::io::Error::other)?;
        self.0.write_str(text).map_err(std::io::Error::other)?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;
    use crate::platform::captured::Lines;

    /// Emits the same events, spans and fields through `subscriber`.
    fn emit(subscriber: impl Subscriber + Send + Sync) {
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(answer = 42, "outside any span");
            let request = tracing::info_span!(
                "request",
                request_id = "7b3b3ba1",
                method = %"GET",
                uri = %"/v1/persons/1?q=\"x\"",
            );
            let _request = request.enter();
            let task = tracing::info_span!("task", task_id = 7_u64, attempt = -1_i64);
            let _task = task.enter();
            tracing::warn!(
                latency = %format_args!("{} ms", 2),
                status = 200_u16,
                ok = true,
                ratio = 0.5,
                not_a_number = f64::NAN,
                big = 1_u128 << 100,
                quoted = ?"a \"b\"\n\u{7}é",
                error = &std::io::Error::other("gone") as &(dyn std::error::Error + 'static),
                "finished processing request"
            );
            drop(_task);
            let empty = tracing::info_span!("empty");
            let _empty = empty.enter();
            tracing::error!("in a span without fields");
        });
    }

    #[test]
    fn lines_are_those_of_the_stock_json_format() {
        let ours = Lines::default();
        emit(
            tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .with_writer(ours.clone())
                    .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
                    .event_format(JsonLines(NoTraces)),
            ),
        );
        let stock = Lines::default();
        emit(
            tracing_subscriber::registry().with(
                tracing_subscriber::fmt::layer()
                    .with_writer(stock.clone())
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true),
            ),
        );

        let (ours, stock) = (ours.take(), stock.take());
        let strip_time = |lines: &str| -> Vec<serde_json::Value> {
            lines
                .lines()
                .map(|line| {
                    let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
                    let time = value["timestamp"].as_str().unwrap().to_owned();
                    assert!(time.ends_with('Z') && time.len() == 27, "{time}");
                    value["timestamp"] = serde_json::Value::Null;
                    value
                })
                .collect()
        };
        assert_eq!(ours.lines().count(), 3, "{ours}");
        assert_eq!(strip_time(&ours), strip_time(&stock));
        // Byte for byte, the timestamp apart.
        let untimed = |lines: &str| -> Vec<String> {
            lines.lines().map(|line| line[40..].to_owned()).collect()
        };
        assert_eq!(untimed(&ours), untimed(&stock));
    }
}
