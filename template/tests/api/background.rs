//! Helpers for the task tests: a Redis namespace per test, and service processes.
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use crate::helpers::{TestDatabase, test_settings};
use crate::service::BIN;
use crate::service::config::Settings;
use crate::service::models::task::State;
use crate::service::queue::{Keys, Queue};

/// A Redis server, and key names no other test uses.
pub struct TestRedis {
    pub url: String,
    pub namespace: String,
}

impl TestRedis {
    /// `TEST_REDIS_URL`, else a Redis container when Docker answers. Without either the
    /// test is skipped, loudly, except under `CI`, where it fails.
    pub async fn find() -> Option<Self> {
        let url = redis_url().await?;
        Some(Self {
            url,
            namespace: format!("test-{}", Uuid::new_v4().simple()),
        })
    }

    /// Points settings at this Redis, with short delays so that tests stay quick.
    pub fn configure(&self, settings: &mut Settings) {
        settings.redis.url = Some(self.url.clone());
        settings.tasks.eager = false;
        settings.tasks.namespace = self.namespace.clone();
        settings.tasks.retry_base_ms = 100;
        settings.tasks.retry_max_ms = 400;
        settings.tasks.worker_lease_secs = 2;
        settings.tasks.poll_interval_ms = 50;
        settings.tasks.shutdown_timeout_secs = 10;
        settings.beat.lease_secs = 2;
    }

    /// The same, as environment variables for a service process.
    pub fn env(&self, database_url: &str) -> Vec<(String, String)> {
        [
            ("APP__DATABASE__URL", database_url),
            ("APP__REDIS__URL", self.url.as_str()),
            ("APP__TASKS__EAGER", "false"),
            ("APP__TASKS__NAMESPACE", self.namespace.as_str()),
            ("APP__TASKS__RETRY_BASE_MS", "100"),
            ("APP__TASKS__RETRY_MAX_MS", "400"),
            ("APP__TASKS__WORKER_LEASE_SECS", "2"),
            ("APP__TASKS__POLL_INTERVAL_MS", "50"),
            ("APP__TASKS__SHUTDOWN_TIMEOUT_SECS", "10"),
            ("APP__BEAT__LEASE_SECS", "2"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// A client on this Redis, for looking behind the queue.
    pub async fn client(&self) -> fred::prelude::Client {
        use fred::prelude::*;

        let client = Client::new(
            Config::from_url(&self.url).expect("Redis URL"),
            None,
            None,
            None,
        );
        client.init().await.expect("connect to Redis");
        client
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let pattern = format!("{}*", Keys::new(&self.namespace).prefix());
        let url = self.url.clone();
        // Drop runs inside the test's runtime, which cannot block: use a thread of our own.
        let _ = std::thread::spawn(move || {
            use fred::prelude::*;

            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let client = Client::new(Config::from_url(&url)?, None, None, None);
                client.init().await?;
                let script = "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do \
                              redis.call('DEL', key) end return 0";
                let _: i64 = client.eval(script, Vec::<String>::new(), pattern).await?;
                client.quit().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
    }
}

async fn redis_url() -> Option<String> {
    static CONTAINER_URL: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    static WARNED: OnceLock<()> = OnceLock::new();

    if let Ok(url) = std::env::var("TEST_REDIS_URL") {
        return Some(url);
    }
    if crate::helpers::docker_answers() {
        return Some(
            CONTAINER_URL
                .get_or_init(start_redis_container)
                .await
                .clone(),
        );
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but no Redis was found: set TEST_REDIS_URL \
             (e.g. redis://127.0.0.1:6379) or make Docker reachable"
        );
    }
    WARNED.get_or_init(|| {
        crate::helpers::notice(
            "\n*** No Redis: TEST_REDIS_URL is unset and Docker does not answer.\n\
             *** The task queue tests are SKIPPED. Set TEST_REDIS_URL to run them.\n",
        );
    });
    None
}

/// Starts Redis 7 in a container that lives as long as the test binary.
async fn start_redis_container() -> String {
    use testcontainers_modules::redis::Redis;
    use testcontainers_modules::testcontainers::ImageExt;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;

    let container = Redis::default()
        .with_tag("7-alpine")
        .start()
        .await
        .expect("start a Redis container");
    let port = container
        .get_host_port_ipv4(6379)
        .await
        .expect("container port");
    // Shared by the whole test binary; see start_postgres_container.
    std::mem::forget(container);
    format!("redis://127.0.0.1:{port}")
}

/// A migrated database, its connection, and a task handle on the given Redis.
pub struct TaskWorld {
    pub database: TestDatabase,
    pub db: DatabaseConnection,
    pub tasks: Queue,
}

impl TaskWorld {
    pub async fn new(redis: &TestRedis) -> Self {
        Self::with(|settings| redis.configure(settings)).await
    }

    /// The same, with the test settings changed by `configure` (no Redis: eager mode).
    pub async fn with(configure: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::create().await;
        let mut settings = test_settings();
        settings.database.url = Some(database.url.clone());
        configure(&mut settings);
        let db = crate::service::db::connect(&settings.database)
            .await
            .expect("connect");
        crate::service::db::upgrade(&db, None)
            .await
            .expect("migrate");
        let registry = crate::service::tasks::registry();
        let tasks =
            Queue::new(db.clone(), &settings.redis, &settings.tasks, registry).expect("task queue");
        Self {
            database,
            db,
            tasks,
        }
    }

    /// Runs `worker` in this process until the returned sender is dropped or used.
    pub fn spawn_worker(
        &self,
        tasks: Queue,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            crate::service::queue::worker::run(tasks, async {
                let _ = stopped.await;
            })
            .await
            .expect("worker runs");
        });
        (stop, handle)
    }

    /// Waits until the task reaches a finished state (or `patience` runs out).
    pub async fn finished(
        &self,
        id: Uuid,
        patience: Duration,
    ) -> crate::service::models::task::Model {
        self.wait_for(id, patience, "a finished state", |state| {
            state.is_finished()
        })
        .await
    }

    /// Waits until the task is in `state`.
    pub async fn reaches(&self, id: Uuid, state: State, patience: Duration) {
        self.wait_for(id, patience, &format!("{state:?}"), |now| now == state)
            .await;
    }

    async fn wait_for(
        &self,
        id: Uuid,
        patience: Duration,
        wanted: &str,
        reached: impl Fn(State) -> bool,
    ) -> crate::service::models::task::Model {
        let deadline = Instant::now() + patience;
        loop {
            let task = crate::service::controllers::tasks::get(&self.db, id)
                .await
                .expect("task row");
            if reached(task.state) {
                return task;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} is {:?}, not {wanted}, after {patience:?}",
                task.state
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Runs one SQL query returning a single integer.
    pub async fn count(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect("query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// Creates a person straight through the controller.
    pub async fn person(&self, age: i32) -> i64 {
        let input = crate::service::controllers::persons::PersonInput {
            name: "Ada".into(),
            age,
        };
        crate::service::controllers::persons::create(&self.db, input)
            .await
            .expect("person created")
            .id
    }

    pub async fn age(&self, person: i64) -> i32 {
        crate::service::controllers::persons::get(&self.db, person)
            .await
            .expect("person")
            .age
    }
}

/// A `serve` process on a free port with its own database, plus `vars`; and its
/// `http://host:port`.
pub async fn serve(database: &TestDatabase, vars: &[(&str, String)]) -> (Process, String) {
    let mut env = vec![
        ("APP__DATABASE__URL".to_owned(), database.url.clone()),
        ("APP__DATABASE__AUTO_MIGRATE".to_owned(), "true".to_owned()),
        ("APP__SERVER__PORT".to_owned(), "0".to_owned()),
    ];
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let process = Process::start("serve", &env);
    let address = process.address("serving").await;
    (process, address)
}

/// Creates a person through the API at `address` and returns it.
pub async fn create_person(address: &str) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{address}/v1/persons"))
        .json(&serde_json::json!({"name": "Ada", "age": 36}))
        .send()
        .await
        .expect("created")
        .json()
        .await
        .expect("JSON")
}

/// `GET {address}/metrics`, checked to be Prometheus text.
pub async fn scrape(address: &str) -> String {
    let response = reqwest::get(format!("{address}/metrics"))
        .await
        .expect("scraped");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain")),
    );
    response.text().await.expect("text")
}

/// The value of the sample that starts with `series` (name and labels), or 0 when absent.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

/// A service process (`worker`, `beat`, `serve`) whose output goes to a file.
pub struct Process {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Process {
    pub fn start(command: &str, vars: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join(format!("{command}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut run = Command::new(BIN);
        run.arg(command)
            .env("APP_ENV", "test")
            .env("APP__LOG__LEVEL", "info,sqlx=warn,fred=warn")
            .env("APP__LOG__STDOUT__FORMAT", "compact")
            .env("NO_COLOR", "1");
        for name in ["APP_CONFIG", "APP_CONFIG_YAML", "RUST_LOG"] {
            run.env_remove(name);
        }
        run.envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .stdin(Stdio::null());
        let child = run.spawn().expect("the service binary starts");
        Self {
            child,
            log,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (`KILL`, `TERM`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name}");
    }

    /// Waits for the process to exit.
    pub async fn exited(&mut self, patience: Duration) -> ExitStatus {
        let deadline = Instant::now() + patience;
        loop {
            if let Some(status) = self.child.try_wait().expect("status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running after {patience:?}:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The `http://host:port` a `serve` process (or the metrics listener of a `worker`)
    /// listens on, from its "serving" line.
    pub async fn address(&self, line: &str) -> String {
        self.wrote(line, Duration::from_secs(30)).await;
        let output = self.output();
        let found = output
            .lines()
            .find(|text| text.contains(line))
            .and_then(|text| text.split("address=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address on the {line:?} line:\n{output}"));
        format!("http://{found}")
    }

    /// Waits until the process has written `text`.
    pub async fn wrote(&self, text: &str, patience: Duration) {
        let deadline = Instant::now() + patience;
        while !self.output().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} after {patience:?}:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
