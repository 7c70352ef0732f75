//! An OpenTelemetry collector stand-in: an OTLP/HTTP receiver that decodes what arrives
//! with the official protobuf definitions (`opentelemetry-proto`), one that accepts and
//! never answers, and an address where nothing listens.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

use crate::support::eventually;

/// How long a test waits for spans to arrive.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// One span as received, with the attributes of the process that sent it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The resource attributes (`service.name`, `process.pid` ...), as text.
    pub resource: HashMap<String, String>,
    pub span: Span,
}

impl Received {
    pub fn name(&self) -> &str {
        &self.span.name
    }

    pub fn kind(&self) -> SpanKind {
        SpanKind::try_from(self.span.kind).unwrap_or(SpanKind::Unspecified)
    }

    /// The trace id, in hex as in a `traceparent`.
    pub fn trace_id(&self) -> String {
        hex(&self.span.trace_id)
    }

    /// The span id, in hex.
    pub fn span_id(&self) -> String {
        hex(&self.span.span_id)
    }

    /// The parent's span id; empty for a root span.
    pub fn parent_id(&self) -> String {
        hex(&self.span.parent_span_id)
    }

    /// An attribute, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        text_of(&self.span.attributes, key)
    }

    /// The span's status code: 0 unset, 1 ok, 2 error.
    pub fn status(&self) -> i32 {
        self.span.status.as_ref().map_or(0, |status| status.code)
    }
}

/// Spans received so far, shared with the receiver's threads.
#[derive(Clone, Default)]
pub struct Spans(Arc<Mutex<Vec<Received>>>);

impl Spans {
    /// Every span received so far.
    pub fn all(&self) -> Vec<Received> {
        self.0.lock().expect("spans").clone()
    }

    /// Waits until the spans received satisfy `done`, and returns them all.
    pub async fn wait_until(&self, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        eventually(PATIENCE, async || self.all(), |spans| done(spans)).await
    }
}

/// An OTLP/HTTP receiver on loopback, answering every export with success.
pub struct OtlpReceiver {
    /// `http://127.0.0.1:port`, as `trace.endpoint` takes it.
    pub endpoint: String,
    pub spans: Spans,
}

impl OtlpReceiver {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        let address = listener.local_addr().expect("address");
        let spans = Spans::default();
        let kept = spans.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || serve(stream, &kept));
            }
        });
        Self {
            endpoint: format!("http://{address}"),
            spans,
        }
    }
}

/// A collector that accepts connections and never answers: the worst kind.
pub struct BlackHole {
    pub endpoint: String,
}

impl BlackHole {
    /// Listens on a free port of 127.0.0.1.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
        let address = listener.local_addr().expect("address");
        std::thread::spawn(move || {
            // Kept open, never read from or written to.
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Self {
            endpoint: format!("http://{address}"),
        }
    }
}

/// An endpoint where nothing listens: every connection is refused.
pub fn refusing_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind TCP");
    let address = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{address}")
}

/// Answers the exports of one connection until the client closes it.
fn serve(stream: TcpStream, spans: &Spans) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut reader) {
        let (status, answer) = if path != "/v1/traces" {
            ("404 Not Found", Vec::new())
        } else {
            match ExportTraceServiceRequest::decode(body.as_slice()) {
                Ok(request) => {
                    keep(request, spans);
                    // An empty ExportTraceServiceResponse: full success.
                    ("200 OK", Vec::new())
                }
                Err(_) => ("400 Bad Request", Vec::new()),
            }
        };
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&answer).is_err() {
            return;
        }
    }
}

fn keep(request: ExportTraceServiceRequest, spans: &Spans) {
    let mut kept = spans.0.lock().expect("spans");
    for resource_spans in request.resource_spans {
        let resource: HashMap<String, String> = resource_spans
            .resource
            .map(|resource| resource.attributes)
            .unwrap_or_default()
            .iter()
            .filter_map(|kv| Some((kv.key.clone(), text(kv.value.as_ref()?)?)))
            .collect();
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                kept.push(Received {
                    resource: resource.clone(),
                    span,
                });
            }
        }
    }
}

/// One HTTP request's path and body; `None` when the connection ends.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut first = String::new();
    if reader.read_line(&mut first).ok()? == 0 {
        return None;
    }
    let path = first.split_whitespace().nth(1)?.to_owned();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((path, body))
}

fn text_of(attributes: &[KeyValue], key: &str) -> Option<String> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| text(kv.value.as_ref()?))
}

fn text(value: &AnyValue) -> Option<String> {
    match value.value.as_ref()? {
        any_value::Value::StringValue(text) => Some(text.clone()),
        any_value::Value::IntValue(number) => Some(number.to_string()),
        any_value::Value::DoubleValue(number) => Some(number.to_string()),
        any_value::Value::BoolValue(flag) => Some(flag.to_string()),
        other => Some(format!("{other:?}")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
