//! The rules the types cannot check alone: values that depend on each other or on the
//! environment, and bounds. Each value was parsed when it was read (see `values`); the
//! beat schedules' task names are checked where the tasks are known (`cli`).
use super::{ConfigError, Environment, FILE_VAR, OVERRIDE_PREFIX, Settings};

/// The largest page a list may be configured to return.
const MAX_PER_PAGE_LIMIT: u64 = 10_000;
/// The deepest offset paging may be configured to reach.
const MAX_PAGE_DEPTH_LIMIT: u64 = 10_000_000;
/// The longest beat schedule name (its ticks' request ids hold it).
const MAX_SCHEDULE_NAME: usize = 64;
/// hyper reads a request head into a buffer of at least this size.
const MIN_HEADER_BYTES: usize = 8 * 1024;
/// And a head larger than this is no request a client needs to send.
const MAX_HEADER_BYTES_LIMIT: usize = 1024 * 1024;

impl Settings {
    /// Checks what serde cannot: values that depend on each other or on the environment.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError::new(message));
        if self.database.url.is_none() {
            return fail(format!(
                "database.url is required in {}: set it in config/{}.yaml, in the file named \
                 by {FILE_VAR}, or with {OVERRIDE_PREFIX}DATABASE__URL",
                self.env, self.env
            ));
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
            (
                "server.header_read_timeout_secs",
                self.server.header_read_timeout_secs,
            ),
            ("server.idle_timeout_secs", self.server.idle_timeout_secs),
            ("server.max_connections", self.server.max_connections as u64),
            ("server.max_in_flight", self.server.max_in_flight as u64),
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
        if !(self.api.max_per_page..=MAX_PAGE_DEPTH_LIMIT).contains(&self.api.max_page_depth) {
            return fail(format!(
                "api.max_page_depth must be between api.max_per_page and {MAX_PAGE_DEPTH_LIMIT}"
            ));
        }
        if !(MIN_HEADER_BYTES..=MAX_HEADER_BYTES_LIMIT).contains(&self.server.max_header_bytes) {
            return fail(format!(
                "server.max_header_bytes must be between {MIN_HEADER_BYTES} and \
                 {MAX_HEADER_BYTES_LIMIT}"
            ));
        }
        self.validate_log()?;
        self.validate_trace()?;
        self.validate_tasks()?;
        self.auth.validate(self.env)
    }

    fn validate_log(&self) -> Result<(), ConfigError> {
        let log = &self.log;
        let queues = [
            ("log.stdout", log.stdout.queue_capacity),
            ("log.file", log.file.queue_capacity),
            ("log.syslog", log.syslog.queue_capacity),
            ("log.gelf", log.gelf.queue_capacity),
        ];
        if let Some((sink, _)) = queues.iter().find(|(_, capacity)| *capacity == 0) {
            return Err(ConfigError::new(format!(
                "{sink}.queue_capacity must be at least 1"
            )));
        }
        if !(0.0..=1.0).contains(&self.sentry.sample_rate) {
            return Err(ConfigError::new(
                "sentry.sample_rate must be between 0.0 and 1.0",
            ));
        }
        Ok(())
    }

    fn validate_trace(&self) -> Result<(), ConfigError> {
        let trace = &self.trace;
        if !(0.0..=1.0).contains(&trace.sample_ratio) {
            return Err(ConfigError::new(
                "trace.sample_ratio must be between 0.0 and 1.0",
            ));
        }
        let positive = [
            ("trace.timeout_ms", trace.timeout_ms),
            ("trace.queue_capacity", trace.queue_capacity as u64),
            ("trace.batch_size", trace.batch_size as u64),
            ("trace.batch_delay_ms", trace.batch_delay_ms),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError::new(format!("{key} must be at least 1")));
        }
        if trace.service_name.as_deref().is_some_and(str::is_empty) {
            return Err(ConfigError::new(
                "trace.service_name must not be empty (leave it out instead)",
            ));
        }
        Ok(())
    }

    fn validate_tasks(&self) -> Result<(), ConfigError> {
        let fail = |message: String| Err(ConfigError::new(message));
        if self.redis.url.is_none() && self.env == Environment::Prod && !self.tasks.eager {
            return fail(format!(
                "redis.url is required in prod (or set tasks.eager): set it in \
                 config/prod.yaml, in the file named by {FILE_VAR}, or with \
                 {OVERRIDE_PREFIX}REDIS__URL"
            ));
        }
        let positive = [
            ("redis.command_timeout_ms", self.redis.command_timeout_ms),
            ("tasks.concurrency", self.tasks.concurrency as u64),
            ("tasks.retry_base_ms", self.tasks.retry_base_ms),
            ("tasks.worker_lease_secs", self.tasks.worker_lease_secs),
            ("tasks.poll_interval_ms", self.tasks.poll_interval_ms),
            ("tasks.requeue_after_secs", self.tasks.requeue_after_secs),
            ("beat.lease_secs", self.beat.lease_secs),
        ];
        if let Some((key, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return fail(format!("{key} must be at least 1"));
        }
        if self.tasks.retry_max_ms < self.tasks.retry_base_ms {
            return fail("tasks.retry_max_ms must be at least tasks.retry_base_ms".into());
        }
        for name in self.beat.schedules.keys() {
            // A tick's tasks carry `beat:{name}:{time}` as their request id: kept as short
            // and plain as a client's (see `api::middleware::request_id`).
            let plain = name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if name.is_empty() || name.len() > MAX_SCHEDULE_NAME || !plain {
                return fail(format!(
                    "beat.schedules: {name:?} must be 1 to {MAX_SCHEDULE_NAME} letters, \
                     digits, '-', '_' or '.'"
                ));
            }
        }
        let namespace = &self.tasks.namespace;
        if namespace.is_empty()
            || namespace
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '{' || c == '}')
        {
            // The queue's keys are `{namespace}:...`: a brace inside would change the part
            // Redis Cluster hashes, and scatter one namespace over several slots.
            return fail(
                "tasks.namespace must be a non-empty word without spaces or braces".into(),
            );
        }
        Ok(())
    }
}
