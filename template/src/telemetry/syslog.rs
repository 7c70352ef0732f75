//! RFC 5424 syslog messages over UDP, TCP (octet-counted) or a unix datagram socket.
use std::io::Write;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::net::{Framing, Transport};
use super::record::{Record, outside_sinks, text};
use crate::config::SyslogAddress;

/// How messages reach the configured address.
pub fn transport(address: &SyslogAddress) -> Transport {
    match address {
        SyslogAddress::Udp(address) => Transport::Udp(address.clone()),
        SyslogAddress::Tcp(address) => Transport::Tcp(address.clone(), Framing::OctetCounting),
        #[cfg(unix)]
        SyslogAddress::Unix(path) => Transport::UnixDatagram(path.clone()),
    }
}

/// Writes each event as one syslog message.
pub struct SyslogLayer<W> {
    writer: W,
    facility: u8,
    hostname: String,
    app_name: String,
    procid: String,
}

impl<W> SyslogLayer<W> {
    pub fn new(writer: W, facility: u8, hostname: &str, app_name: &str) -> Self {
        Self {
            writer,
            facility,
            hostname: header_field(hostname, 255),
            app_name: header_field(app_name, 48),
            procid: std::process::id().to_string(),
        }
    }

    /// `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID - - MSG`, MSG being the message then
    /// `key=value` for each field (the request id among them).
    pub fn format(&self, record: &Record) -> String {
        let priority = u16::from(self.facility) * 8 + u16::from(severity(record.level));
        let mut line = format!(
            "<{priority}>1 {} {} {} {} - - {}",
            record
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            self.hostname,
            self.app_name,
            self.procid,
            record.message,
        );
        for (name, value) in record.all_fields() {
            let value = text(value);
            if value.is_empty() || value.contains([' ', '"', '=']) {
                line.push_str(&format!(" {name}={value:?}"));
            } else {
                line.push_str(&format!(" {name}={value}"));
            }
        }
        line
    }
}

impl<S, W> Layer<S> for SyslogLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        outside_sinks(event.metadata().target(), || {
            let line = self.format(&Record::new(event, &ctx));
            let _ = self.writer.make_writer().write_all(line.as_bytes());
        });
    }
}

/// The syslog severity of a level.
pub fn severity(level: Level) -> u8 {
    match level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// A header field: printable ASCII without spaces, `-` when empty.
fn header_field(value: &str, max: usize) -> String {
    let clean: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() { "-".into() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_has_the_rfc5424_header_and_the_fields() {
        let layer = SyslogLayer::new((), 1, "web 1", "acme");
        let record = Record {
            time: "2026-11-28T10:00:00.5Z".parse().unwrap(),
            level: Level::WARN,
            target: "acme::api".into(),
            file: None,
            line: None,
            message: "slow request".into(),
            fields: vec![("elapsed_ms", 1200.into()), ("note", "two words".into())],
            context: vec![("request_id", "abc".into())],
        };

        let line = layer.format(&record);

        let pid = std::process::id();
        assert_eq!(
            line,
            format!(
                "<12>1 2026-11-28T10:00:00.500000Z web1 acme {pid} - - slow request \
                 request_id=abc elapsed_ms=1200 note=\"two words\""
            )
        );
    }
}
