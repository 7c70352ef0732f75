//! Values parsed once, when the settings load: the code that uses them never parses again.
//!
//! Each type reads from the text of its key and prints back as that text (secrets hidden).
//! A parse error is the rest of a sentence that starts with the key: the loader puts the
//! key in front (`log.syslog.address must be udp://host:port, ...`).
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::secret::{REDACTED, SecretUrl, is_secret_name};

/// `host:port`, resolved again at each connection (servers move).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address {
    pub host: String,
    pub port: u16,
}

impl Address {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("must be host:port (got {text:?})"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port
            .parse()
            .map_err(|_| format!("has no valid port (got {text:?})"))?;
        if host.is_empty() {
            return Err(format!("has no host (got {text:?})"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl TryFrom<String> for Address {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<Address> for String {
    fn from(address: Address) -> Self {
        address.to_string()
    }
}

/// Where syslog messages go: `udp://host:port`, `tcp://host:port` or `unix:///dev/log`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub enum SyslogAddress {
    Udp(Address),
    Tcp(Address),
    #[cfg(unix)]
    Unix(PathBuf),
}

impl SyslogAddress {
    pub fn parse(text: &str) -> Result<Self, String> {
        let wrong =
            || format!("must be udp://host:port, tcp://host:port or unix:///path (got {text:?})");
        let (scheme, rest) = text.split_once("://").ok_or_else(wrong)?;
        match scheme {
            "udp" => Ok(Self::Udp(Address::parse(rest)?)),
            "tcp" => Ok(Self::Tcp(Address::parse(rest)?)),
            #[cfg(unix)]
            "unix" if rest.starts_with('/') => Ok(Self::Unix(rest.into())),
            _ => Err(wrong()),
        }
    }
}

impl fmt::Display for SyslogAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Udp(address) => write!(f, "udp://{address}"),
            Self::Tcp(address) => write!(f, "tcp://{address}"),
            #[cfg(unix)]
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

impl TryFrom<String> for SyslogAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<SyslogAddress> for String {
    fn from(address: SyslogAddress) -> Self {
        address.to_string()
    }
}

/// A syslog facility: `user`, `daemon`, `local0` ... `local7`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Facility {
    name: String,
    code: u8,
}

impl Facility {
    pub fn parse(name: &str) -> Result<Self, String> {
        const NAMES: [&str; 12] = [
            "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
            "authpriv", "ftp",
        ];
        let local = || {
            let local: u8 = name.strip_prefix("local")?.parse().ok()?;
            (local <= 7).then_some(16 + local)
        };
        let code = NAMES
            .iter()
            .position(|known| *known == name)
            .and_then(|code| u8::try_from(code).ok())
            .or_else(local)
            .ok_or_else(|| {
                "must be one of kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron, \
                 authpriv, ftp, local0 ... local7"
                    .to_owned()
            })?;
        Ok(Self {
            name: name.to_owned(),
            code,
        })
    }

    /// The facility's code (RFC 5424).
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl TryFrom<String> for Facility {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        Self::parse(&name)
    }
}

impl From<Facility> for String {
    fn from(facility: Facility) -> Self {
        facility.name
    }
}

/// A `tracing` filter such as `info,sqlx=warn`, known to be valid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct LogFilter(String);

impl LogFilter {
    /// A filter with these directives (a filter cannot be cloned, so each user builds one).
    pub fn build(&self) -> tracing_subscriber::EnvFilter {
        tracing_subscriber::EnvFilter::new(&self.0)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LogFilter {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.parse::<tracing_subscriber::EnvFilter>() {
            Ok(_) => Ok(Self(text)),
            Err(error) => Err(format!("is not a valid filter: {error}")),
        }
    }
}

impl From<LogFilter> for String {
    fn from(filter: LogFilter) -> Self {
        filter.0
    }
}

/// A cron pattern, `sec min hour day month weekday` (seconds optional), in UTC.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronPattern(croner::Cron);

impl CronPattern {
    pub fn cron(&self) -> &croner::Cron {
        &self.0
    }
}

impl TryFrom<String> for CronPattern {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
            .map(Self)
            .map_err(|error| format!("{text:?} is not a cron pattern: {error}"))
    }
}

impl From<CronPattern> for String {
    fn from(pattern: CronPattern) -> Self {
        pattern.0.as_str().to_owned()
    }
}

/// A Sentry DSN. It is a credential: keep it in a [`super::Secret`].
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct SentryDsn(sentry::types::Dsn);

impl SentryDsn {
    pub fn dsn(&self) -> &sentry::types::Dsn {
        &self.0
    }
}

impl TryFrom<String> for SentryDsn {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        // The message never repeats the DSN.
        text.parse()
            .map(Self)
            .map_err(|error| format!("is not a valid DSN: {error}"))
    }
}

/// `database.url`: `postgres://` or `sqlite:`; its password never prints.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct DatabaseUrl(SecretUrl);

impl DatabaseUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        // The messages never repeat the URL: it may hold a password.
        let url = SecretUrl::parse(text).map_err(|error| format!("is not a valid URL: {error}"))?;
        match url.scheme() {
            "postgres" | "postgresql" | "sqlite" => Ok(Self(url)),
            _ => Err("must be a postgres:// or sqlite: URL".into()),
        }
    }

    /// The URL as written, password included, for the code that connects with it.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl std::str::FromStr for DatabaseUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

/// Reads an optional `database.url`; empty counts as unset, so that the message asking for
/// one names the environment.
pub(super) fn database_url<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<DatabaseUrl>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) if text.is_empty() => Ok(None),
        Some(text) => DatabaseUrl::parse(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// `redis.url`: `redis://`, `rediss://` (or their `-cluster` kinds); its password never
/// prints.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct RedisUrl {
    url: SecretUrl,
    client: fred::types::config::Config,
}

impl RedisUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        const KNOWN: [&str; 4] = ["redis", "rediss", "redis-cluster", "rediss-cluster"];
        // The messages never repeat the URL: it may hold a password.
        if text.is_empty() {
            return Err("must not be empty (leave it out instead)".into());
        }
        let url = SecretUrl::parse(text)
            .ok()
            .filter(|url| KNOWN.contains(&url.scheme()))
            .ok_or_else(|| {
                format!(
                    "must be a redis:// or rediss:// URL (or {})",
                    KNOWN[2..].join(", ")
                )
            })?;
        let client = fred::types::config::Config::from_url(text).map_err(|error| {
            format!(
                "is not a valid redis:// or rediss:// URL: {}",
                error.details()
            )
        })?;
        Ok(Self { url, client })
    }

    /// The client configuration the URL describes (password included).
    pub fn client_config(&self) -> fred::types::config::Config {
        self.client.clone()
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.url, f)
    }
}

impl Serialize for RedisUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.url.serialize(serializer)
    }
}

impl TryFrom<String> for RedisUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl std::str::FromStr for RedisUrl {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text)
    }
}

/// Reads an optional listening address such as `0.0.0.0:9100`.
pub(super) fn listen<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SocketAddr>, D::Error> {
    match Option::<String>::deserialize(deserializer)? {
        None => Ok(None),
        Some(text) => text.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "must be an address such as 0.0.0.0:9100 (got {text:?})"
            ))
        }),
    }
}

/// Fields added to every GELF message, by name (without the `_`). Those whose name is a
/// secret's (a token ...) print as `[redacted]`; [`ExtraFields::exposed`] gives them all.
#[derive(Clone, Default, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct ExtraFields(BTreeMap<String, String>);

impl ExtraFields {
    /// Every field with its real value, for the GELF sink.
    pub fn exposed(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    fn printable(&self) -> BTreeMap<&str, &str> {
        self.0
            .iter()
            .map(|(name, value)| {
                let shown = if is_secret_name(name) && !value.is_empty() {
                    REDACTED
                } else {
                    value.as_str()
                };
                (name.as_str(), shown)
            })
            .collect()
    }
}

impl TryFrom<BTreeMap<String, String>> for ExtraFields {
    type Error = String;

    fn try_from(fields: BTreeMap<String, String>) -> Result<Self, String> {
        let bad = fields.keys().find(|name| {
            name.is_empty()
                || name.as_str() == "id"
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        });
        match bad {
            Some(name) => Err(format!(
                ": {name:?} is not a GELF field name (letters, digits, _ . - ; not \"id\")"
            )),
            None => Ok(Self(fields)),
        }
    }
}

impl fmt::Debug for ExtraFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.printable()).finish()
    }
}

impl Serialize for ExtraFields {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.printable().serialize(serializer)
    }
}

/// `trace.endpoint`: an OTLP/HTTP collector, `http://host:4318` or the full URL of its
/// traces endpoint (`.../v1/traces`).
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct OtlpEndpoint {
    url: SecretUrl,
    traces: String,
}

impl OtlpEndpoint {
    /// The path OTLP/HTTP collectors take traces on.
    pub const TRACES_PATH: &'static str = "/v1/traces";

    pub fn parse(text: &str) -> Result<Self, String> {
        let url = SecretUrl::parse(text)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https"))
            .ok_or("must be an http:// or https:// URL, such as http://collector:4318")?;
        let base = text.trim_end_matches('/');
        let traces = if base.ends_with(Self::TRACES_PATH) {
            base.to_owned()
        } else {
            format!("{base}{}", Self::TRACES_PATH)
        };
        Ok(Self { url, traces })
    }

    /// Where spans are posted, credentials included.
    pub fn traces_url(&self) -> &str {
        &self.traces
    }
}

impl fmt::Debug for OtlpEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.url, f)
    }
}

impl Serialize for OtlpEndpoint {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.url.serialize(serializer)
    }
}

impl TryFrom<String> for OtlpEndpoint {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

/// `trace.headers`: HTTP headers sent with every export. Their values are credentials
/// (API keys, tokens) as often as not, so none of them prints;
/// [`ExportHeaders::exposed`] gives them.
#[derive(Clone, Default, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct ExportHeaders(BTreeMap<String, String>);

impl ExportHeaders {
    /// Every header with its real value, for the exporter.
    pub fn exposed(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    fn printable(&self) -> BTreeMap<&str, &str> {
        self.0
            .keys()
            .map(|name| (name.as_str(), REDACTED))
            .collect()
    }
}

impl TryFrom<BTreeMap<String, String>> for ExportHeaders {
    type Error = String;

    fn try_from(headers: BTreeMap<String, String>) -> Result<Self, String> {
        // RFC 9110: a name is a token; a value is visible characters, spaces and tabs.
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if let Some(name) = headers
            .keys()
            .find(|name| name.is_empty() || !name.chars().all(token))
        {
            return Err(format!(": {name:?} is not an HTTP header name"));
        }
        let text = |c: char| c == ' ' || c == '\t' || c.is_ascii_graphic();
        if let Some((name, _)) = headers.iter().find(|(_, value)| !value.chars().all(text)) {
            // The value is not repeated: it is likely a credential.
            return Err(format!(".{name} is not a valid HTTP header value"));
        }
        Ok(Self(headers))
    }
}

impl fmt::Debug for ExportHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.printable()).finish()
    }
}

impl Serialize for ExportHeaders {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.printable().serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_addresses_name_their_transport() {
        assert_eq!(
            SyslogAddress::parse("udp://127.0.0.1:514"),
            Ok(SyslogAddress::Udp(Address::parse("127.0.0.1:514").unwrap()))
        );
        assert!(matches!(
            SyslogAddress::parse("tcp://logs:601"),
            Ok(SyslogAddress::Tcp(_))
        ));
        assert!(matches!(
            SyslogAddress::parse("unix:///dev/log"),
            Ok(SyslogAddress::Unix(_))
        ));
        assert!(SyslogAddress::parse("127.0.0.1:514").is_err());
        assert!(SyslogAddress::parse("http://logs:80").is_err());
        assert!(SyslogAddress::parse("udp://logs").is_err());
        for text in ["udp://[::1]:514", "tcp://logs:601", "unix:///dev/log"] {
            assert_eq!(SyslogAddress::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn facilities_have_their_rfc_codes() {
        let code = |name: &str| Facility::parse(name).ok().map(|f| f.code());
        assert_eq!(code("user"), Some(1));
        assert_eq!(code("daemon"), Some(3));
        assert_eq!(code("local0"), Some(16));
        assert_eq!(code("local7"), Some(23));
        assert_eq!(code("local8"), None);
        assert_eq!(code("nope"), None);
    }

    #[test]
    fn secret_extra_fields_print_redacted_but_are_sent() {
        let fields = ExtraFields::try_from(BTreeMap::from([
            ("token".to_owned(), "t0k3n".to_owned()),
            ("deployment".to_owned(), "blue".to_owned()),
        ]))
        .unwrap();
        let printed = format!("{fields:?} {}", serde_json::to_string(&fields).unwrap());
        assert!(!printed.contains("t0k3n"), "{printed}");
        assert!(printed.contains("blue"), "{printed}");
        assert!(fields.exposed().any(|field| field == ("token", "t0k3n")));
    }

    #[test]
    fn redis_urls_keep_their_password_out_of_print() {
        let url = RedisUrl::parse("redis://:s3cret@cache:6379/0").unwrap();
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(!serde_json::to_string(&url).unwrap().contains("s3cret"));
        assert_eq!(url.client_config().password.as_deref(), Some("s3cret"));
    }

    #[test]
    fn otlp_endpoints_get_the_traces_path_once() {
        let traces = |text: &str| OtlpEndpoint::parse(text).map(|e| e.traces_url().to_owned());
        assert_eq!(
            traces("http://jaeger:4318").as_deref(),
            Ok("http://jaeger:4318/v1/traces")
        );
        assert_eq!(
            traces("https://otlp.example.com/otlp/").as_deref(),
            Ok("https://otlp.example.com/otlp/v1/traces")
        );
        assert_eq!(
            traces("http://collector:4318/v1/traces").as_deref(),
            Ok("http://collector:4318/v1/traces")
        );
        assert!(traces("grpc://collector:4317").is_err());
        assert!(traces("collector:4318").is_err());
    }

    #[test]
    fn export_headers_print_without_their_values() {
        let headers = ExportHeaders::try_from(BTreeMap::from([(
            "x-api-key".to_owned(),
            "s3cret".to_owned(),
        )]))
        .unwrap();
        let printed = format!("{headers:?} {}", serde_json::to_string(&headers).unwrap());
        assert!(!printed.contains("s3cret"), "{printed}");
        assert!(printed.contains("x-api-key"), "{printed}");
        assert!(headers.exposed().any(|h| h == ("x-api-key", "s3cret")));
        let bad = |name: &str, value: &str| {
            ExportHeaders::try_from(BTreeMap::from([(name.to_owned(), value.to_owned())])).is_err()
        };
        assert!(bad("x api key", "v"));
        assert!(bad("x-api-key", "line\nbreak"));
    }

    #[test]
    fn a_cluster_url_names_every_node_given() {
        let url = RedisUrl::parse(
            "redis-cluster://:s3cret@10.0.0.1:7000?node=10.0.0.2:7000&node=10.0.0.3:7000",
        )
        .unwrap();
        let config = url.client_config();
        assert!(config.server.is_clustered());
        let mut hosts: Vec<String> = config
            .server
            .hosts()
            .iter()
            .map(|server| format!("{}:{}", server.host, server.port))
            .collect();
        hosts.sort();
        assert_eq!(hosts, ["10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"]);
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(RedisUrl::parse("rediss-cluster://cache.internal:7000").is_ok());
    }
}
