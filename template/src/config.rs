//! Typed settings, loaded once at start-up.
//!
//! Sources, later ones winning: built-in defaults < `config/default.yaml` <
//! `config/{APP_ENV}.yaml` < the file named by `APP_CONFIG` < the YAML document in
//! `APP_CONFIG_YAML` (or base64-encoded in `APP_CONFIG_YAML_B64`) <
//! `APP__SECTION__KEY` environment variables.
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::Figment;
use figment::providers::{Format, Serialized};
use serde::{Deserialize, Serialize};

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
/// Lines a log sink's queue holds by default (about 2 MB of typical lines).
const DEFAULT_LOG_QUEUE: usize = 8192;
/// The largest page a list may be configured to return.
const MAX_PER_PAGE_LIMIT: u64 = 10_000;

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
            _ => Err(ConfigError(format!(
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

/// The whole configuration tree.
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
    pub metrics: MetricsSettings,
    pub redis: RedisSettings,
    pub tasks: TaskSettings,
    pub beat: BeatSettings,
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
}

/// The SQL database: PostgreSQL (`postgres://`) or SQLite (`sqlite://`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: Option<String>,
    pub max_connections: u32,
    pub min_connections: u32,
    pub connect_timeout_secs: u64,
    /// Apply pending migrations when the service starts (handy in dev, off in prod).
    pub auto_migrate: bool,
}

/// The Redis server that carries the task queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://[:password@]host:6379/0` or `rediss://` for TLS. Without one, tasks run
    /// in-process (eager mode).
    pub url: Option<String>,
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
    pub cron: String,
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
}

/// Log output: a filter, then each sink on or off with its own format and queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// A `tracing` filter such as `info,sqlx=warn`; `RUST_LOG` wins when set.
    pub level: String,
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
    pub level: Option<String>,
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
    pub address: String,
    /// `user`, `daemon`, `local0` ... `local7`.
    pub facility: String,
    /// APP-NAME of each message; defaults to the service's name.
    pub app_name: Option<String>,
    /// A filter for this sink alone, instead of `log.level`.
    pub level: Option<String>,
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
    pub address: String,
    pub tls: bool,
    /// A PEM file of extra CA certificates trusted for TLS (besides the system's).
    pub ca_file: Option<PathBuf>,
    /// Fields added to every message, e.g. a log platform's token; names without the `_`.
    pub extra_fields: BTreeMap<String, String>,
    /// A filter for this sink alone, instead of `log.level`.
    pub level: Option<String>,
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
    pub dsn: Option<String>,
    /// Reported environment; defaults to `APP_ENV` (dev, test, prod).
    pub environment: Option<String>,
    /// Share of errors sent, from 0.0 to 1.0.
    pub sample_rate: f32,
}

/// Prometheus metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `GET /metrics` on the API's port.
    pub enabled: bool,
    /// Where `worker` and `beat`, which have no API port, serve `/metrics` and
    /// `/mon/ping` (e.g. `0.0.0.0:9100`); nowhere when unset.
    pub listen: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: Environment::Dev,
            server: ServerSettings {
                host: "127.0.0.1".into(),
                port: 8000,
                request_timeout_secs: 30,
                body_limit_bytes: 1024 * 1024,
                shutdown_timeout_secs: 30,
            },
            database: DatabaseSettings {
                url: None,
                max_connections: 10,
                min_connections: 1,
                connect_timeout_secs: 5,
                auto_migrate: false,
            },
            api: ApiSettings {
                default_per_page: 20,
                max_per_page: 100,
            },
            log: LogSettings {
                level: "info,sqlx=warn".into(),
                stdout: StdoutSink {
                    enabled: true,
                    format: LogFormat::Compact,
                    nonblocking: true,
                    queue_capacity: DEFAULT_LOG_QUEUE,
                },
                file: FileSink {
                    enabled: false,
                    directory: "logs".into(),
                    prefix: None,
                    suffix: "log".into(),
                    rotation: Rotation::Daily,
                    max_files: 7,
                    format: LogFormat::Json,
                    level: None,
                    nonblocking: true,
                    queue_capacity: DEFAULT_LOG_QUEUE,
                },
                syslog: SyslogSink {
                    enabled: false,
                    address: "udp://127.0.0.1:514".into(),
                    facility: "user".into(),
                    app_name: None,
                    level: None,
                    nonblocking: true,
                    queue_capacity: DEFAULT_LOG_QUEUE,
                },
                gelf: GelfSink {
                    enabled: false,
                    address: "127.0.0.1:12201".into(),
                    tls: false,
                    ca_file: None,
                    extra_fields: BTreeMap::new(),
                    level: None,
                    nonblocking: true,
                    queue_capacity: DEFAULT_LOG_QUEUE,
                },
            },
            sentry: SentrySettings {
                dsn: None,
                environment: None,
                sample_rate: 1.0,
            },
            metrics: MetricsSettings {
                enabled: true,
                listen: None,
            },
            redis: RedisSettings {
                url: None,
                command_timeout_ms: 2000,
            },
            tasks: TaskSettings {
                eager: false,
                namespace: "tasks".into(),
                concurrency: 32,
                retry_base_ms: 1000,
                retry_max_ms: 600_000,
                worker_lease_secs: 30,
                shutdown_timeout_secs: 30,
                poll_interval_ms: 500,
            },
            beat: BeatSettings {
                lease_secs: 10,
                catch_up_secs: 60,
                schedules: BTreeMap::new(),
            },
        }
    }
}

/// A configuration problem, worded for the person who has to fix it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        // figment reports one error per bad key; each names the key and where it came from.
        let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
        Self(messages.join("; "))
    }
}

/// YAML for figment, through the maintained `yaml_serde` crate.
struct Yaml;

impl Format for Yaml {
    type Error = yaml_serde::Error;
    const NAME: &'static str = "YAML";

    fn from_str<T: serde::de::DeserializeOwned>(string: &str) -> Result<T, Self::Error> {
        yaml_serde::from_str(string)
    }
}

impl Settings {
    /// Loads the settings from the process environment and the files it names.
    pub fn load() -> Result<Self, ConfigError> {
        let vars = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .collect();
        Self::load_from(&vars)
    }

    /// Loads the settings from the given variables instead of the process's (for tests).
    pub fn load_from(vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let var = |name: &str| vars.get(name).cloned();
        let env = match var(ENV_VAR) {
            Some(value) => value.parse()?,
            None => Environment::Dev,
        };
        let dir = PathBuf::from(var(DIR_VAR).unwrap_or_else(|| "config".into()));

        let mut figment = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Yaml::file(dir.join("default.yaml")))
            .merge(Yaml::file(dir.join(format!("{env}.yaml"))));
        if let Some(path) = var(FILE_VAR) {
            figment = figment.merge(Yaml::file_exact(readable_file(Path::new(&path))?));
        }
        if let Some(document) = var(YAML_VAR) {
            figment = figment.merge(Yaml::string(&document));
        }
        if let Some(encoded) = var(YAML_BASE64_VAR) {
            use base64::Engine;

            let compact: String = encoded.split_whitespace().collect();
            let document = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or_else(|| {
                    ConfigError(format!(
                        "{YAML_BASE64_VAR} is not base64-encoded UTF-8 text"
                    ))
                })?;
            figment = figment.merge(Yaml::string(&document));
        }
        figment = figment.merge(overrides(vars));

        let mut settings: Settings = figment.extract()?;
        settings.env = env;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks what serde cannot: values that depend on each other or on the environment.
    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        match self.database.url.as_deref() {
            None | Some("") => {
                return fail(format!(
                    "database.url is required in {}: set it in config/{}.yaml, in the file named \
                     by {FILE_VAR}, or with {OVERRIDE_PREFIX}DATABASE__URL",
                    self.env, self.env
                ));
            }
            Some(url) => {
                // The message never repeats the URL: it may hold a password.
                let scheme = url::Url::parse(url).map(|u| u.scheme().to_owned());
                match scheme.as_deref() {
                    Ok("postgres" | "postgresql" | "sqlite") => {}
                    Ok(_) => {
                        return fail("database.url must be a postgres:// or sqlite: URL".into());
                    }
                    Err(error) => return fail(format!("database.url is not a valid URL: {error}")),
                }
            }
        }
        let positive = [
            (
                "database.max_connections",
                u64::from(self.database.max_connections),
            ),
            (
                "database.connect_timeout_secs",
                self.database.connect_timeout_secs,
            ),
            (
                "server.request_timeout_secs",
                self.server.request_timeout_secs,
            ),
            (
                "server.body_limit_bytes",
                self.server.body_limit_bytes as u64,
            ),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return fail(format!("{key} must be at least 1"));
        }
        if !(1..=MAX_PER_PAGE_LIMIT).contains(&self.api.max_per_page) {
            return fail(format!(
                "api.max_per_page must be between 1 and {MAX_PER_PAGE_LIMIT}"
            ));
        }
        if self.api.default_per_page == 0 || self.api.default_per_page > self.api.max_per_page {
            return fail("api.default_per_page must be between 1 and api.max_per_page".into());
        }
        self.validate_log()?;
        self.validate_tasks()
    }

    fn validate_log(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        let log = &self.log;
        let filters = [
            ("log.level", Some(&log.level)),
            ("log.file.level", log.file.level.as_ref()),
            ("log.syslog.level", log.syslog.level.as_ref()),
            ("log.gelf.level", log.gelf.level.as_ref()),
        ];
        for (key, filter) in filters {
            if let Some(Err(error)) = filter.map(|f| f.parse::<tracing_subscriber::EnvFilter>()) {
                return fail(format!("{key} is not a valid filter: {error}"));
            }
        }
        let queues = [
            ("log.stdout", log.stdout.queue_capacity),
            ("log.file", log.file.queue_capacity),
            ("log.syslog", log.syslog.queue_capacity),
            ("log.gelf", log.gelf.queue_capacity),
        ];
        if let Some((sink, _)) = queues.iter().find(|(_, capacity)| *capacity == 0) {
            return fail(format!("{sink}.queue_capacity must be at least 1"));
        }
        if log.syslog.enabled {
            if let Err(error) = crate::telemetry::syslog::Target::parse(&log.syslog.address) {
                return fail(format!("log.syslog.address {error}"));
            }
            if crate::telemetry::syslog::facility(&log.syslog.facility).is_none() {
                return fail(
                    "log.syslog.facility must be one of kern, user, mail, daemon, auth, syslog, \
                     lpr, news, uucp, cron, authpriv, ftp, local0 ... local7"
                        .into(),
                );
            }
        }
        if log.gelf.enabled {
            if let Err(error) = crate::telemetry::net::Address::parse(&log.gelf.address) {
                return fail(format!("log.gelf.address {error}"));
            }
            if let Some(name) = log.gelf.extra_fields.keys().find(|name| {
                name.is_empty()
                    || name.as_str() == "id"
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
            }) {
                return fail(format!(
                    "log.gelf.extra_fields: {name:?} is not a GELF field name (letters, digits, \
                     _ . - ; not \"id\")"
                ));
            }
        }
        if let Some(dsn) = self.sentry.dsn.as_deref() {
            // The message never repeats the DSN: it is a credential.
            if let Err(error) = dsn.parse::<sentry::types::Dsn>() {
                return fail(format!("sentry.dsn is not a valid DSN: {error}"));
            }
        }
        if !(0.0..=1.0).contains(&self.sentry.sample_rate) {
            return fail("sentry.sample_rate must be between 0.0 and 1.0".into());
        }
        if let Some(listen) = self.metrics.listen.as_deref()
            && listen.parse::<std::net::SocketAddr>().is_err()
        {
            return fail(format!(
                "metrics.listen must be an address such as 0.0.0.0:9100 (got {listen:?})"
            ));
        }
        Ok(())
    }

    fn validate_tasks(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError(message));
        match self.redis.url.as_deref() {
            Some("") => return fail("redis.url must not be empty (leave it out instead)".into()),
            // The message never repeats the URL: it may hold a password.
            Some(url) => {
                let scheme = url::Url::parse(url).map(|u| u.scheme().to_owned());
                let known = ["redis", "rediss", "redis-cluster", "rediss-cluster"];
                if !scheme
                    .as_deref()
                    .is_ok_and(|scheme| known.contains(&scheme))
                {
                    return fail(format!(
                        "redis.url must be a redis:// or rediss:// URL (or {})",
                        known[2..].join(", ")
                    ));
                }
                if let Err(error) = fred::types::config::Config::from_url(url) {
                    return fail(format!(
                        "redis.url is not a valid redis:// or rediss:// URL: {}",
                        error.details()
                    ));
                }
            }
            None if self.env == Environment::Prod && !self.tasks.eager => {
                return fail(format!(
                    "redis.url is required in prod (or set tasks.eager): set it in \
                     config/prod.yaml, in the file named by {FILE_VAR}, or with \
                     {OVERRIDE_PREFIX}REDIS__URL"
                ));
            }
            None => {}
        }
        let positive = [
            ("redis.command_timeout_ms", self.redis.command_timeout_ms),
            ("tasks.concurrency", self.tasks.concurrency as u64),
            ("tasks.retry_base_ms", self.tasks.retry_base_ms),
            ("tasks.worker_lease_secs", self.tasks.worker_lease_secs),
            ("tasks.poll_interval_ms", self.tasks.poll_interval_ms),
            ("beat.lease_secs", self.beat.lease_secs),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return fail(format!("{key} must be at least 1"));
        }
        if self.tasks.retry_max_ms < self.tasks.retry_base_ms {
            return fail("tasks.retry_max_ms must be at least tasks.retry_base_ms".into());
        }
        let namespace = &self.tasks.namespace;
        if namespace.is_empty()
            || namespace
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return fail("tasks.namespace must be a non-empty word without spaces".into());
        }
        let registry = crate::tasks::registry();
        for (name, schedule) in &self.beat.schedules {
            if let Err(error) = schedule.cron.parse::<croner::Cron>() {
                return fail(format!(
                    "beat.schedules.{name}.cron {:?} is not a cron pattern: {error}",
                    schedule.cron
                ));
            }
            let Some(task) = registry.get(&schedule.task) else {
                return fail(format!(
                    "beat.schedules.{name}.task {:?} is not a registered task (known: {})",
                    schedule.task,
                    registry.names().join(", ")
                ));
            };
            let args = match &schedule.args {
                serde_json::Value::Null => serde_json::json!({}),
                args => args.clone(),
            };
            if let Err(error) = task.check_args(&args) {
                return fail(format!("beat.schedules.{name}.args: {error}"));
            }
        }
        Ok(())
    }

    /// The database URL; `load` guarantees it is set.
    pub fn database_url(&self) -> &str {
        self.database.url.as_deref().unwrap_or_default()
    }

    /// The effective settings as YAML, with passwords, tokens and URL credentials hidden.
    pub fn redacted_yaml(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        redact(&mut value, false);
        if let Some(map) = value.as_object_mut() {
            map.insert("env".into(), self.env.as_str().into());
        }
        yaml_serde::to_string(&value).unwrap_or_default()
    }
}

/// The `APP__SECTION__KEY` overrides: `APP__DATABASE__URL` sets `database.url`.
fn overrides(vars: &HashMap<String, String>) -> Figment {
    let mut figment = Figment::new();
    for (name, value) in vars {
        if let Some(path) = name.strip_prefix(OVERRIDE_PREFIX) {
            figment = figment.merge(EnvVar {
                name: name.clone(),
                key: path.to_ascii_lowercase().replace("__", "."),
                value: value.parse().unwrap_or_else(|_| value.clone().into()),
            });
        }
    }
    figment
}

/// One override variable, as a figment source whose errors name the variable.
struct EnvVar {
    name: String,
    key: String,
    value: figment::value::Value,
}

impl figment::Provider for EnvVar {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(format!("environment variable {}", self.name))
    }

    fn data(
        &self,
    ) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::default(&self.key, &self.value).data()
    }
}

fn readable_file(path: &Path) -> Result<&Path, ConfigError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_file() => Ok(path),
        Ok(_) => Err(ConfigError(format!(
            "{FILE_VAR} names {}, which is not a file",
            path.display()
        ))),
        Err(error) => Err(ConfigError(format!(
            "{FILE_VAR} names {}, which cannot be read: {error}",
            path.display()
        ))),
    }
}

const SECRET_KEYS: [&str; 6] = ["password", "secret", "token", "dsn", "key", "credentials"];

fn redact(value: &mut serde_json::Value, secret_key: bool) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                redact(child, is_secret_key(key));
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| redact(v, secret_key)),
        serde_json::Value::String(text) if secret_key && !text.is_empty() => {
            *text = "[redacted]".into();
        }
        serde_json::Value::String(text) => {
            if let Ok(url) = url::Url::parse(text) {
                *text = redact_url(url);
            }
        }
        _ => {}
    }
}

/// Hides the password of a URL, in its user part and in `?password=`-like parameters.
fn redact_url(mut url: url::Url) -> String {
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
    }
    let secret_query = url.query_pairs().any(|(key, _)| is_secret_key(&key));
    if secret_query {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_key(&key) {
                    "REDACTED".into()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|secret| key.contains(secret))
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
        assert!(settings.database_url().starts_with("sqlite:"));
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
    fn beat_schedules_are_checked_at_load() {
        for (var, value, expected) in [
            ("CRON", "every night", "cron"),
            ("TASK", "persons.nope", "not a registered task"),
            ("ARGS__OLDER_THAN_DAYS", "soon", "args"),
        ] {
            let name = format!("APP__BEAT__SCHEDULES__PURGE-FINISHED-TASKS__{var}");
            let error = load(&[(name.as_str(), value)]).unwrap_err().to_string();
            assert!(error.contains(expected), "{var}: {error}");
        }
    }

    #[test]
    fn a_yaml_document_in_one_variable_is_read() {
        let yaml = "database:\n  url: postgres://u:p@db/app\nredis:\n  url: redis://cache:6379\n\
                    server:\n  port: 9000\n";
        let settings = load(&[(ENV_VAR, "prod"), (YAML_VAR, yaml)]).expect("loads");
        assert_eq!(settings.server.port, 9000);
        assert_eq!(settings.database_url(), "postgres://u:p@db/app");
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
            settings.database_url(),
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
        ] {
            let error = load(&[(name, value)]).unwrap_err().to_string();
            assert!(error.contains(key), "{name}: {error}");
        }
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
        redact(&mut value, false);
        assert_eq!(value["sentry"]["dsn"], "[redacted]");
    }
}
