//! Typed settings, loaded once at start-up.
//!
//! Sources, later ones winning: `config/default.yaml` as built into the binary (the one
//! place where defaults are written) < the `default.yaml` of the config folder <
//! `config/{APP_ENV}.yaml` < the file named by `APP_CONFIG` < the YAML document in
//! `APP_CONFIG_YAML` (or base64-encoded in `APP_CONFIG_YAML_B64`) <
//! `APP__SECTION__KEY` environment variables.
//!
//! Every value is parsed here, once (addresses, facilities, filters, cron patterns, URLs,
//! the DSN): the code that uses the settings gets typed values. Secrets are kept in types
//! that print them hidden.
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod auth;
mod load;
mod otel;
pub mod secret;
mod validate;
pub mod values;

pub use auth::{ApiKeySettings, AuthSettings, OidcSettings, TokenAlgorithm};
pub use load::ConfigError;
pub use secret::{Secret, SecretUrl};
pub use values::{
    Address, CronPattern, DatabaseUrl, ExportHeaders, ExtraFields, Facility, LogFilter,
    OtlpEndpoint, RedisUrl, SentryDsn, SyslogAddress,
};

/// Names the environment: `dev` (the default), `test` or `prod`.
pub const ENV_VAR: &str = "APP_ENV";
/// Names one more YAML file read after the environment's own.
pub const FILE_VAR: &str = "APP_CONFIG";
/// Holds a whole YAML document, for containers that get their config from one variable.
pub const YAML_VAR: &str = "APP_CONFIG_YAML";
/// The same document base64-encoded, for platforms where multi-line values are awkward.
pub const YAML_BASE64_VAR: &str = "APP_CONFIG_YAML_B64";
/// Names the folder of `default.yaml` and the environment files (`config` by default).
pub const DIR_VAR: &str = "APP_CONFIG_DIR";
/// Prefix of the variables that override single keys: `APP__DATABASE__URL`.
pub const OVERRIDE_PREFIX: &str = "APP__";

/// Where the service runs; picks `config/{env}.yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Dev,
    Test,
    Prod,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dev => "dev",
            Self::Test => "test",
            Self::Prod => "prod",
        }
    }
}

impl FromStr for Environment {
    type Err = ConfigError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "dev" | "development" => Ok(Self::Dev),
            "test" | "testing" => Ok(Self::Test),
            "prod" | "production" => Ok(Self::Prod),
            _ => Err(ConfigError::new(format!(
                "{ENV_VAR} must be one of dev, test, prod (got {value:?})"
            ))),
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The whole configuration tree. Its defaults are in `config/default.yaml`, which names
/// every key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Set from `APP_ENV`, never from a file.
    #[serde(skip, default = "default_env")]
    pub env: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub api: ApiSettings,
    pub log: LogSettings,
    pub sentry: SentrySettings,
    pub trace: TraceSettings,
    pub metrics: MetricsSettings,
    pub redis: RedisSettings,
    pub tasks: TaskSettings,
    pub beat: BeatSettings,
    pub auth: AuthSettings,
}

fn default_env() -> Environment {
    Environment::Dev
}

/// The HTTP listener and the limits it enforces.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// A request still running after this long gets a 408.
    pub request_timeout_secs: u64,
    /// Largest accepted request body; larger ones get a 413.
    pub body_limit_bytes: usize,
    /// How long a shutdown waits for in-flight requests.
    pub shutdown_timeout_secs: u64,
    /// A client must send a whole request head (request line and headers) within this
    /// long of its first byte (of the connection's opening, for its first request).
    pub header_read_timeout_secs: u64,
    /// A kept-alive connection with no request for this long is closed.
    pub idle_timeout_secs: u64,
    /// Connections served at once; more wait in the listener's backlog while idle ones
    /// are closed to make room.
    pub max_connections: usize,
    /// Requests handled at once (`/mon/ping` aside); more get a 503 at once.
    pub max_in_flight: usize,
    /// Largest request head (request line and headers); a larger one gets a 431.
    pub max_header_bytes: usize,
}

/// The SQL database: PostgreSQL (`postgres://`) or SQLite (`sqlite://`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(default, deserialize_with = "values::database_url")]
    pub url: Option<DatabaseUrl>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_secs: u64,
    /// PostgreSQL cancels a statement of the API (`serve`) running longer than this (0: the
    /// server's own `statement_timeout`); workers, beats and `db` commands run without it.
    pub statement_timeout_ms: u64,
    /// Apply pending migrations when the service starts (handy in dev, off in prod).
    pub auto_migrate: bool,
}

/// The Redis server that carries the task queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[:password@]host:6379/0` or `rediss://` for TLS. Without one, tasks run
    /// in-process (eager mode).
    pub url: Option<RedisUrl>,
    /// A command not answered after this long fails (scheduling then answers 503).
    pub command_timeout_ms: u64,
}

/// The task queue and the workers that consume it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSettings {
    /// Run tasks in-process, at once, even when Redis is configured (tests, debugging).
    pub eager: bool,
    /// Prefix of every Redis key of the queue; services sharing a Redis need their own.
    pub namespace: String,
    /// Tasks one worker process runs at the same time.
    pub concurrency: usize,
    /// First retry delay; each further retry waits twice as long, plus jitter.
    pub retry_base_ms: u64,
    /// Longest retry delay.
    pub retry_max_ms: u64,
    /// A worker silent for this long is presumed dead and its tasks go back to the queue.
    pub worker_lease_secs: u64,
    /// On SIGTERM, how long running tasks may take to finish.
    pub shutdown_timeout_secs: u64,
    /// How often delayed retries are checked for being due.
    pub poll_interval_ms: u64,
    /// A task still pending this long after it was scheduled, whose message is not in
    /// Redis (its push was lost), is pushed again by the next worker or beat that looks.
    pub requeue_after_secs: u64,
}

/// The scheduler that fires tasks on cron-like schedules.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeatSettings {
    /// Only the beat holding the lease fires; another takes over this long after it dies.
    pub lease_secs: u64,
    /// A tick missed (during a failover, say) is still fired if it is at most this old.
    pub catch_up_secs: u64,
    /// Schedules by name.
    pub schedules: BTreeMap<String, Schedule>,
}

/// One task fired on a cron pattern.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    /// `sec min hour day month weekday` (seconds optional), e.g. `0 30 3 * * *`; UTC.
    pub cron: CronPattern,
    /// The registered name of the task, e.g. `tasks.purge_finished`.
    pub task: String,
    /// The task's arguments, as JSON/YAML.
    #[serde(default)]
    pub args: serde_json::Value,
}

/// Behaviour of the REST API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub default_per_page: u64,
    pub max_per_page: u64,
    /// How deep offset paging reaches: `page × per_page` at most this many objects.
    pub max_page_depth: u64,
}

/// Log output: a filter, then each sink on or off with its own format and queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter such as `info,sqlx=warn`; `RUST_LOG` wins when set.
    pub level: LogFilter,
    pub stdout: StdoutSink,
    pub file: FileSink,
    pub syslog: SyslogSink,
    pub gelf: GelfSink,
}

/// Lines on standard output.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StdoutSink {
    pub enabled: bool,
    pub format: LogFormat,
    /// Write from a background thread through a bounded queue: a slow or absent backend
    /// never holds up the code that logs; lines that do not fit are dropped and counted.
    /// `false` writes in the logging thread and loses nothing while the backend keeps up.
    #[serde(rename = "async")]
    pub nonblocking: bool,
    /// Lines the queue holds before it drops.
    pub queue_capacity: usize,
}

/// Lines in files rotated by time.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSink {
    pub enabled: bool,
    /// Folder of the files, created when missing.
    pub directory: PathBuf,
    /// File names are `{prefix}.{date}.{suffix}`; the prefix defaults to the service's name.
    pub prefix: Option<String>,
    pub suffix: String,
    pub rotation: Rotation,
    /// Older files beyond this many are deleted; 0 keeps them all.
    pub max_files: usize,
    pub format: LogFormat,
    /// A filter for this sink alone, instead of `log.level`.
    pub level: Option<LogFilter>,
    /// Write from a background thread through a bounded queue: a slow or absent backend
    /// never holds up the code that logs; lines that do not fit are dropped and counted.
    /// `false` writes in the logging thread and loses nothing while the backend keeps up.
    #[serde(rename = "async")]
    pub nonblocking: bool,
    /// Lines the queue holds before it drops.
    pub queue_capacity: usize,
}

/// When a log file is closed and the next one started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rotation {
    Minutely,
    Hourly,
    Daily,
    Weekly,
    Never,
}

/// RFC 5424 messages to a syslog server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSink {
    pub enabled: bool,
    /// `udp://host:514`, `tcp://host:601` (octet-counted frames) or `unix:///dev/log`.
    pub address: SyslogAddress,
    /// `user`, `daemon`, `local0` ... `local7`.
    pub facility: Facility,
    /// APP-NAME of each message; defaults to the service's name.
    pub app_name: Option<String>,
    /// A filter for this sink alone, instead of `log.level`.
    pub level: Option<LogFilter>,
    /// Write from a background thread through a bounded queue: a slow or absent backend
    /// never holds up the code that logs; lines that do not fit are dropped and counted.
    /// `false` writes in the logging thread and loses nothing while the backend keeps up.
    #[serde(rename = "async")]
    pub nonblocking: bool,
    /// Lines the queue holds before it drops.
    pub queue_capacity: usize,
}

/// GELF 1.1 messages to Graylog (or any GELF input) over TCP, optionally TLS.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GelfSink {
    pub enabled: bool,
    /// `host:port` of a GELF TCP input.
    pub address: Address,
    pub tls: bool,
    /// A PEM file of extra CA certificates trusted for TLS (besides the system's).
    pub ca_file: Option<PathBuf>,
    /// Fields added to every message, e.g. a log platform's token; names without the `_`.
    pub extra_fields: ExtraFields,
    /// A filter for this sink alone, instead of `log.level`.
    pub level: Option<LogFilter>,
    /// Write from a background thread through a bounded queue: a slow or absent backend
    /// never holds up the code that logs; lines that do not fit are dropped and counted.
    /// `false` writes in the logging thread and loses nothing while the backend keeps up.
    #[serde(rename = "async")]
    pub nonblocking: bool,
    /// Lines the queue holds before it drops.
    pub queue_capacity: usize,
}

/// How log lines look on stdout and in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Multi-line and coloured, for people.
    Pretty,
    /// One line per event, for people.
    Compact,
    /// One JSON object per line, for machines.
    Json,
}

/// Error reporting to Sentry (or a Sentry-compatible service such as GlitchTip).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentrySettings {
    /// The project's DSN; without one nothing is sent.
    pub dsn: Option<Secret<SentryDsn>>,
    /// Reported environment; defaults to `APP_ENV` (dev, test, prod).
    pub environment: Option<String>,
    /// Share of errors sent, from 0.0 to 1.0.
    pub sample_rate: f32,
}

/// Distributed traces, exported over OTLP/HTTP (protobuf) to Jaeger, Tempo or any
/// OpenTelemetry collector. The standard `OTEL_*` variables set these keys too.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSettings {
    /// The collector: `http://host:4318` (`/v1/traces` is added) or the full URL of its
    /// traces endpoint. Without one nothing is traced and nothing is spent on it.
    pub endpoint: Option<OtlpEndpoint>,
    /// Sent with every export (an API key ...); their values never print.
    pub headers: ExportHeaders,
    /// Share of new traces recorded, from 0.0 to 1.0.
    pub sample_ratio: f64,
    /// Follow the caller's decision when a request or a task comes with a trace context.
    pub parent_based: bool,
    /// `service.name`; defaults to the service's name.
    pub service_name: Option<String>,
    /// More resource attributes (`deployment.environment.name`, `service.namespace` ...).
    pub resource_attributes: BTreeMap<String, String>,
    /// An export not answered after this long fails (its spans are counted dropped).
    pub timeout_ms: u64,
    /// Finished spans waiting for export; when it is full, new ones are dropped.
    pub queue_capacity: usize,
    /// Most spans sent in one export.
    pub batch_size: usize,
    /// Longest a finished span waits for its batch to leave.
    pub batch_delay_ms: u64,
    /// At exit, how long the spans still queued may take to leave.
    pub shutdown_timeout_ms: u64,
}

/// Prometheus metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `GET /metrics` on the API's port.
    pub enabled: bool,
    /// Where `worker` and `beat`, which have no API port, serve `/metrics` and
    /// `/mon/ping` (e.g. `0.0.0.0:9100`); nowhere when unset.
    #[serde(default, deserialize_with = "values::listen")]
    pub listen: Option<SocketAddr>,
}

impl DatabaseSettings {
    /// The database URL, password included; `load` guarantees it is set.
    pub fn exposed_url(&self) -> &str {
        self.url.as_ref().map_or("", DatabaseUrl::expose)
    }
}

impl Settings {
    /// The effective settings as YAML, with passwords, tokens and URL credentials hidden.
    pub fn redacted_yaml(&self) -> String {
        // Secrets print hidden by their types; values under a secret's name (in free-form
        // task arguments, say) and URL passwords are hidden once more by name.
        let mut value = serde_json::to_value(self).unwrap_or_default();
        secret::redact_json(&mut value);
        if let Some(map) = value.as_object_mut() {
            map.insert("env".into(), self.env.as_str().into());
        }
        yaml_serde::to_string(&value).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(&vars)
    }

    #[test]
    fn dev_is_the_default_and_needs_no_server() {
        let settings = load(&[]).expect("dev settings load");
        assert_eq!(settings.env, Environment::Dev);
        assert!(settings.database.exposed_url().starts_with("sqlite:"));
    }

    #[test]
    fn an_unknown_environment_is_refused_by_name() {
        let error = load(&[(ENV_VAR, "staging")]).unwrap_err().to_string();
        assert!(
            error.contains("APP_ENV") && error.contains("staging"),
            "{error}"
        );
    }

    #[test]
    fn prod_requires_an_explicit_database_url() {
        let error = load(&[(ENV_VAR, "prod")]).unwrap_err().to_string();
        assert!(error.contains("database.url"), "{error}");
    }

    #[test]
    fn prod_requires_redis_unless_tasks_run_in_process() {
        let db = ("APP__DATABASE__URL", "postgres://u:p@db/app");
        let error = load(&[(ENV_VAR, "prod"), db]).unwrap_err().to_string();
        assert!(error.contains("redis.url"), "{error}");
        assert!(load(&[(ENV_VAR, "prod"), db, ("APP__TASKS__EAGER", "true")]).is_ok());
    }

    #[test]
    fn bad_redis_urls_are_refused_without_being_repeated() {
        let error = load(&[("APP__REDIS__URL", "http://:s3cret@cache")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("redis.url"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn beat_cron_patterns_are_checked_at_load() {
        // The task names and their arguments are checked where the tasks are known (cli).
        let name = "APP__BEAT__SCHEDULES__PURGE-FINISHED-TASKS__CRON";
        let error = load(&[(name, "every night")]).unwrap_err().to_string();
        assert_eq!(
            error,
            "configuration error: beat.schedules.purge-finished-tasks.cron \"every night\" is \
             not a cron pattern: Invalid pattern: Pattern must have between 5 and 7 fields."
        );
        let name = format!("APP__BEAT__SCHEDULES__{}", "X".repeat(65));
        let (cron, task) = (format!("{name}__CRON"), format!("{name}__TASK"));
        let error = load(&[(cron.as_str(), "* * * * *"), (task.as_str(), "tasks.ping")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("must be 1 to 64 letters"), "{error}");
        let settings = load(&[]).expect("loads");
        let schedule = &settings.beat.schedules["purge-finished-tasks"];
        assert_eq!(schedule.cron.cron().as_str(), "0 30 3 * * *");
    }

    #[test]
    fn a_yaml_document_in_one_variable_is_read() {
        let yaml = "database:\n  url: postgres://u:p@db/app\nredis:\n  url: redis://cache:6379\n\
                    server:\n  port: 9000\n";
        let settings = load(&[(ENV_VAR, "prod"), (YAML_VAR, yaml)]).expect("loads");
        assert_eq!(settings.server.port, 9000);
        assert_eq!(settings.database.exposed_url(), "postgres://u:p@db/app");
    }

    #[test]
    fn single_keys_are_overridden_from_the_environment() {
        let settings = load(&[
            ("APP__SERVER__PORT", "9100"),
            (
                "APP__DATABASE__URL",
                "postgres://u:p@db:5432/app?sslmode=disable",
            ),
        ])
        .expect("loads");
        assert_eq!(settings.server.port, 9100);
        assert_eq!(
            settings.database.exposed_url(),
            "postgres://u:p@db:5432/app?sslmode=disable"
        );
    }

    #[test]
    fn a_wrong_type_names_the_key() {
        let error = load(&[(YAML_VAR, "server:\n  port: eighty\n")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("port"), "{error}");
    }

    #[test]
    fn a_bad_override_names_its_variable() {
        let error = load(&[("APP__SERVER__PORT", "eighty")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("APP__SERVER__PORT"), "{error}");
    }

    #[test]
    fn a_malformed_database_url_is_refused_without_echoing_it() {
        let error = load(&[("APP__DATABASE__URL", "postgres://u:s3cret@[bad/app")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("database.url"), "{error}");
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn log_sinks_sentry_and_metrics_are_checked_at_load() {
        let refused = |vars: &[(&str, &str)], key: &str| {
            let message = load(vars).expect_err("refused").to_string();
            assert!(message.contains(key), "{message}");
        };
        let syslog = ("APP__LOG__SYSLOG__ENABLED", "true");
        refused(
            &[syslog, ("APP__LOG__SYSLOG__ADDRESS", "logs:514")],
            "log.syslog.address",
        );
        refused(
            &[syslog, ("APP__LOG__SYSLOG__FACILITY", "local9")],
            "log.syslog.facility",
        );
        let gelf = ("APP__LOG__GELF__ENABLED", "true");
        refused(
            &[gelf, ("APP__LOG__GELF__ADDRESS", "graylog")],
            "log.gelf.address",
        );
        refused(
            &[gelf, ("APP__LOG__GELF__EXTRA_FIELDS__ID", "1")],
            "log.gelf.extra_fields",
        );
        refused(&[("APP__LOG__FILE__LEVEL", "info,[")], "log.file.level");
        refused(
            &[("APP__LOG__STDOUT__QUEUE_CAPACITY", "0")],
            "log.stdout.queue_capacity",
        );
        refused(&[("APP__LOG__STDOUT__FORMAT", "xml")], "format");
        refused(&[("APP__SENTRY__SAMPLE_RATE", "2")], "sentry.sample_rate");
        refused(&[("APP__METRICS__LISTEN", "anywhere")], "metrics.listen");
        let message = load(&[("APP__SENTRY__DSN", "not a dsn s3cret")])
            .expect_err("refused")
            .to_string();
        assert!(message.contains("sentry.dsn"), "{message}");
        assert!(
            !message.contains("s3cret"),
            "the DSN is not repeated: {message}"
        );

        let fine = load(&[
            syslog,
            ("APP__LOG__SYSLOG__ADDRESS", "unix:///dev/log"),
            ("APP__LOG__SYSLOG__FACILITY", "local0"),
            gelf,
            ("APP__LOG__GELF__ADDRESS", "graylog:12201"),
            ("APP__SENTRY__DSN", "https://public@sentry.example.com/42"),
            ("APP__METRICS__LISTEN", "0.0.0.0:9100"),
        ]);
        assert!(fine.is_ok(), "{:?}", fine.err());
    }

    #[test]
    fn the_sentry_dsn_is_hidden_from_config_output() {
        let settings =
            load(&[("APP__SENTRY__DSN", "https://public@sentry.example.com/42")]).expect("loads");
        let yaml = settings.redacted_yaml();
        assert!(!yaml.contains("sentry.example.com"), "{yaml}");
    }

    #[test]
    fn secrets_never_print_even_in_debug_output() {
        let settings = load(&[
            ("APP__DATABASE__URL", "postgres://app:hunter2@db/app"),
            ("APP__REDIS__URL", "redis://:hunter2@cache:6379/0"),
            ("APP__SENTRY__DSN", "https://hunter2@sentry.example.com/42"),
            ("APP__LOG__GELF__EXTRA_FIELDS__TOKEN", "hunter2"),
        ])
        .expect("loads");
        for printed in [format!("{settings:?}"), settings.redacted_yaml()] {
            assert!(!printed.contains("hunter2"), "{printed}");
            assert!(
                printed.contains("postgres://app:REDACTED@db/app"),
                "{printed}"
            );
        }
        assert_eq!(
            settings.database.exposed_url(),
            "postgres://app:hunter2@db/app"
        );
        assert_eq!(
            settings
                .sentry
                .dsn
                .as_ref()
                .map(|dsn| dsn.expose().dsn().public_key()),
            Some("hunter2")
        );
    }

    #[test]
    fn a_yaml_document_may_come_base64_encoded() {
        // "server:\n  port: 9999\n"
        let settings = load(&[(YAML_BASE64_VAR, "c2VydmVyOgogIHBvcnQ6IDk5OTkK")]).expect("loads");
        assert_eq!(settings.server.port, 9999);
        let error = load(&[(YAML_BASE64_VAR, "%%% not base64")]).expect_err("refused");
        assert!(error.to_string().contains(YAML_BASE64_VAR), "{error}");
    }

    #[test]
    fn limits_must_be_positive_and_bounded() {
        for (name, value, key) in [
            (
                "APP__SERVER__REQUEST_TIMEOUT_SECS",
                "0",
                "server.request_timeout_secs",
            ),
            (
                "APP__SERVER__BODY_LIMIT_BYTES",
                "0",
                "server.body_limit_bytes",
            ),
            ("APP__API__MAX_PER_PAGE", "100000000", "api.max_per_page"),
            ("APP__API__MAX_PAGE_DEPTH", "50", "api.max_page_depth"),
            (
                "APP__SERVER__HEADER_READ_TIMEOUT_SECS",
                "0",
                "server.header_read_timeout_secs",
            ),
            (
                "APP__SERVER__IDLE_TIMEOUT_SECS",
                "0",
                "server.idle_timeout_secs",
            ),
            (
                "APP__SERVER__MAX_CONNECTIONS",
                "0",
                "server.max_connections",
            ),
            ("APP__SERVER__MAX_IN_FLIGHT", "0", "server.max_in_flight"),
            (
                "APP__SERVER__MAX_HEADER_BYTES",
                "1024",
                "server.max_header_bytes",
            ),
        ] {
            let error = load(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(key), "{name}: {error}");
        }
    }

    #[test]
    fn auth_is_on_except_in_dev_and_prod_refuses_to_run_open() {
        assert!(!load(&[]).expect("dev").auth.enabled, "dev runs open");
        assert!(load(&[(ENV_VAR, "test")]).expect("test").auth.enabled);
        let prod = [
            (ENV_VAR, "prod"),
            ("APP__DATABASE__URL", "postgres://u:p@db/app"),
            ("APP__TASKS__EAGER", "true"),
        ];
        assert!(load(&prod).expect("prod").auth.enabled);
        let open = [prod.as_slice(), &[("APP__AUTH__ENABLED", "false")]].concat();
        let error = load(&open).expect_err("refused").to_string();
        assert!(error.contains("auth.allow_open_in_prod"), "{error}");
        let allowed = [
            open.as_slice(),
            &[("APP__AUTH__ALLOW_OPEN_IN_PROD", "true")],
        ]
        .concat();
        assert!(load(&allowed).is_ok());
    }

    #[test]
    fn token_settings_are_checked_one_line_per_mistake() {
        let issuer = (
            "APP__AUTH__OIDC__ISSUER",
            "https://login.example.com/realms/acme",
        );
        let audience = ("APP__AUTH__OIDC__AUDIENCES", "[orders-api]");
        let refused = |vars: &[(&str, &str)], expected: &str| {
            let message = load(vars).expect_err("refused").to_string();
            assert!(message.contains(expected), "{expected}: {message}");
            assert_eq!(message.lines().count(), 1, "{message}");
        };
        refused(&[issuer], "auth.oidc.audiences");
        refused(
            &[
                ("APP__AUTH__OIDC__ISSUER", "http://login.example.com"),
                audience,
            ],
            "auth.oidc.issuer must be an https:// URL",
        );
        refused(
            &[audience],
            "auth.oidc.audiences is set but auth.oidc.issuer is not",
        );
        refused(
            &[issuer, audience, ("APP__AUTH__OIDC__ALGORITHMS", "[none]")],
            "never accepted",
        );
        refused(
            &[issuer, audience, ("APP__AUTH__OIDC__ALGORITHMS", "[HS256]")],
            "hs256_secret",
        );
        refused(
            &[issuer, audience, ("APP__AUTH__OIDC__HS256_SECRET", "short")],
            "at least 32 bytes",
        );
        refused(
            &[("APP__AUTH__API_KEYS__CACHE_SECS", "0")],
            "auth.api_keys.cache_secs",
        );
        let fine = load(&[
            issuer,
            audience,
            (
                "APP__AUTH__OIDC__HS256_SECRET",
                "a shared secret of thirty-two bytes!",
            ),
        ])
        .expect("fine");
        let printed = fine.redacted_yaml();
        assert!(
            !printed.contains("thirty-two"),
            "the secret is hidden: {printed}"
        );
        let local = [
            ("APP__AUTH__OIDC__ISSUER", "http://127.0.0.1:8080"),
            audience,
        ];
        assert!(load(&local).is_ok(), "http on loopback (tests)");
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let error = load(&[(YAML_VAR, "server:\n  prot: 80\n")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("prot"), "{error}");
    }

    #[test]
    fn a_missing_config_file_is_refused() {
        let error = load(&[(FILE_VAR, "/nonexistent/app.yaml")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/app.yaml"), "{error}");
    }

    #[test]
    fn redaction_hides_url_passwords_and_secret_keys() {
        let yaml = "database:\n  url: postgres://user:hunter2@db/app\n";
        let settings = load(&[(YAML_VAR, yaml)]).expect("loads");
        let printed = settings.redacted_yaml();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("user:"), "{printed}");

        let query = "postgres://db/app?user=app&password=hunter2&sslmode=require";
        let settings = load(&[("APP__DATABASE__URL", query)]).expect("loads");
        let printed = settings.redacted_yaml();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("sslmode=require"), "{printed}");

        let mut value = serde_json::json!({"sentry": {"dsn": "https://k@sentry/1"}});
        secret::redact_json(&mut value);
        assert_eq!(value["sentry"]["dsn"], "[redacted]");
    }
}
