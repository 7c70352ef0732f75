//! One isolated service per test: its own database, its own port.
use std::collections::HashMap;
use std::sync::OnceLock;

use reqwest::{Client, Response};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;

use crate::service::app::App;
use crate::service::config::{self, Settings};
use crate::service::telemetry;

/// A running service and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: Client,
    /// The service's own database, for tests that look behind the API.
    pub database_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _database: TestDatabase,
}

/// Starts the service on a free port with a fresh, migrated database.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Like [`spawn_app`], with settings changed by `configure` first.
pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        // Lives as long as the test process.
        if let Ok(telemetry) = telemetry::init(&test_settings()) {
            std::mem::forget(telemetry);
        }
    }
    let database = TestDatabase::create().await;
    let mut settings = test_settings();
    settings.database.url = Some(database.url.parse().expect("a database URL"));
    settings.database.auto_migrate = true;
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    configure(&mut settings);

    let app = App::build(settings).await.expect("the service starts");
    let address = format!("http://{}", app.local_addr());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: Client::new(),
        database_url: database.url.clone(),
        shutdown: Some(shutdown),
        server: Some(server),
        _database: database,
    }
}

/// The settings of `APP_ENV=test`, from the files in `config/`.
pub fn test_settings() -> Settings {
    let vars = HashMap::from([(config::ENV_VAR.to_owned(), "test".to_owned())]);
    Settings::load_from(&vars).expect("config/test.yaml loads")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request sent")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Creates a person and returns its JSON.
    pub async fn create_person(&self, name: &str, age: i32) -> Value {
        let response = self
            .post_json(
                "/v1/persons",
                &serde_json::json!({"name": name, "age": age}),
            )
            .await;
        assert_eq!(response.status(), 201, "person created");
        response.json().await.expect("JSON body")
    }

    /// Stops the service gracefully and waits for it to finish.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.server.take() {
            Some(server) => server.await.expect("server task joins"),
            None => Ok(()),
        }
    }
}

/// Reads an error answer and checks its shape: `{"error": {"code", "message"}}`.
pub async fn error_of(response: Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(content_type, "application/json", "errors are JSON");
    let body: Value = response.json().await.expect("JSON error body");
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error body has a code: {body}"))
        .to_owned();
    assert!(
        body["error"]["message"].is_string(),
        "error body has a message: {body}"
    );
    (status, code, body)
}

/// Where the test databases live.
enum Server {
    /// A PostgreSQL server; each test gets a database of its own on it.
    Postgres(String),
    /// No server found: each test gets a SQLite file.
    Sqlite,
}

/// A database that exists for one test and is dropped after it.
pub struct TestDatabase {
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates an empty database (no tables) on the test server.
    pub async fn create() -> Self {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        match server().await {
            Server::Postgres(admin_url) => {
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to the PostgreSQL test server");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                let _ = admin.close().await;
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    admin_url: Some(admin_url),
                    name,
                    _dir: None,
                }
            }
            Server::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("test.db");
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    admin_url: None,
                    name,
                    _dir: Some(dir),
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.clone() else {
            return;
        };
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // Drop runs inside the test's runtime, which cannot block: use a thread of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let admin = Database::connect(admin_url.as_str()).await?;
                admin.execute_unprepared(&statement).await?;
                admin.close().await
            })?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}

/// Picks the database server once per test binary: `TEST_DATABASE_URL`, else a
/// PostgreSQL container when Docker answers, else SQLite (refused under `CI`).
async fn server() -> Server {
    static CONTAINER_URL: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    static WARNED: OnceLock<()> = OnceLock::new();

    if let Ok(url) = std::env::var("TEST_DATABASE_URL") {
        return if url.starts_with("sqlite:") {
            Server::Sqlite
        } else {
            Server::Postgres(url)
        };
    }
    if docker_answers() {
        let url = CONTAINER_URL.get_or_init(start_postgres_container).await;
        return Server::Postgres(url.clone());
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "CI is set but no PostgreSQL was found: set TEST_DATABASE_URL \
             (e.g. postgres://postgres:postgres@127.0.0.1:5432/postgres) or make Docker reachable"
        );
    }
    WARNED.get_or_init(|| {
        notice(
            "\n*** No PostgreSQL: TEST_DATABASE_URL is unset and Docker does not answer.\n\
             *** These tests run on SQLite only. Set TEST_DATABASE_URL to test on PostgreSQL.\n",
        );
    });
    Server::Sqlite
}

pub fn docker_answers() -> bool {
    if std::env::var_os("DOCKER_HOST").is_some() {
        return true;
    }
    #[cfg(unix)]
    {
        std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Starts PostgreSQL 16 in a container that lives as long as the test binary.
async fn start_postgres_container() -> String {
    use testcontainers_modules::postgres::Postgres;
    use testcontainers_modules::testcontainers::ImageExt;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;

    let container = Postgres::default()
        .with_tag("16-alpine")
        .start()
        .await
        .expect("start a PostgreSQL container");
    let port = container
        .get_host_port_ipv4(5432)
        .await
        .expect("container port");
    // Shared by every test of this binary, so never dropped: the container outlives the
    // run (testcontainers removes containers only on drop). Remove it with `docker rm -f`.
    std::mem::forget(container);
    format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres")
}

/// A `POST /v1/persons` sent in two halves, to keep a request in flight on purpose.
pub struct HalfSentRequest {
    stream: tokio::net::TcpStream,
    rest: &'static str,
}

impl HalfSentRequest {
    /// Sends the head and the first bytes of a valid body to `address` (`host:port`).
    pub async fn start(address: &str) -> Self {
        use tokio::io::AsyncWriteExt;

        let body = r#"{"name": "Ada", "age": 36}"#;
        let (first, rest) = body.split_at(10);
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/persons HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{first}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        Self { stream, rest }
    }

    /// Sends the rest of the body and returns the raw answer.
    pub async fn finish(mut self) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        self.stream
            .write_all(self.rest.as_bytes())
            .await
            .expect("write rest");
        let mut answer = Vec::new();
        let read = self.stream.read_to_end(&mut answer);
        tokio::time::timeout(std::time::Duration::from_secs(10), read)
            .await
            .expect("answered before 10 s")
            .expect("read");
        String::from_utf8_lossy(&answer).into_owned()
    }
}

/// Writes straight to stderr, past the test harness's capture, so that a skipped or
/// downgraded test is seen even when it passes.
pub fn notice(text: &str) {
    use std::io::Write;

    let _ = writeln!(std::io::stderr(), "{text}");
}
