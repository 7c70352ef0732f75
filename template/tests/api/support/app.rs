//! One isolated service per test, in this process: its own database, its own port. And
//! HTTP calls to a running service, this one or a service process.
use std::collections::HashMap;
use std::future::IntoFuture;
use std::ops::Deref;
use std::pin::Pin;

use reqwest::{Method, Response};
use sea_orm::DatabaseConnection;
use serde_json::Value;

use crate::service;
use crate::service::app::App;
use crate::service::config::{self, Settings};
use crate::service::telemetry;
use crate::support::database::TestDatabase;
use crate::support::fixtures;

/// HTTP calls to a running service, by path. Headers and a body can be added before the
/// call is awaited: `api.post("/v1/persons/1/birthday").header("x-request-id", "a").await`.
#[derive(Clone)]
pub struct Api {
    /// `http://host:port`.
    pub address: String,
    pub client: reqwest::Client,
}

impl Api {
    /// Calls without credentials.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            client: reqwest::Client::new(),
        }
    }

    /// Calls with `credential` (an API key or a token) as `Authorization: Bearer ...`.
    pub fn with_credential(address: impl Into<String>, credential: &str) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {credential}"))
            .expect("a header value");
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
        Self {
            address: address.into(),
            client: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .expect("an HTTP client"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub fn request(&self, method: Method, path: &str) -> Call {
        Call(self.client.request(method, self.url(path)))
    }

    pub fn get(&self, path: &str) -> Call {
        self.request(Method::GET, path)
    }

    pub fn post(&self, path: &str) -> Call {
        self.request(Method::POST, path)
    }

    pub fn put(&self, path: &str) -> Call {
        self.request(Method::PUT, path)
    }

    pub fn patch(&self, path: &str) -> Call {
        self.request(Method::PATCH, path)
    }

    pub fn delete(&self, path: &str) -> Call {
        self.request(Method::DELETE, path)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Call {
        self.post(path).json(body)
    }
}

/// A request on its way: awaiting it sends it and gives the answer.
#[must_use = "a call is sent when awaited"]
pub struct Call(reqwest::RequestBuilder);

impl Call {
    pub fn header(self, name: &str, value: &str) -> Self {
        Self(self.0.header(name, value))
    }

    pub fn json(self, body: &Value) -> Self {
        Self(self.0.json(body))
    }

    /// A body as it is, without a content type.
    pub fn body(self, body: &'static str) -> Self {
        Self(self.0.body(body))
    }
}

impl IntoFuture for Call {
    type Output = Response;
    type IntoFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.0.send().await.expect("request sent") })
    }
}

/// A running service, its database, and calls to it (through [`Api`], with a key that
/// holds every permission the API declares; [`TestApp::anonymous`] calls without one).
pub struct TestApp {
    api: Api,
    /// The key every call of `api` sends.
    pub key: String,
    /// The service's own database, for tests that look behind the API.
    pub database_url: String,
    db: tokio::sync::OnceCell<DatabaseConnection>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    database: TestDatabase,
}

impl Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
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
    let key = make_key(&database.connect().await, "tests", &every_permission()).await;
    TestApp {
        api: Api::with_credential(&address, &key),
        key,
        database_url: database.url.clone(),
        db: tokio::sync::OnceCell::new(),
        shutdown: Some(shutdown),
        server: Some(server),
        database,
    }
}

/// Another instance of the service, on `app`'s database (as replicas share one), with
/// settings changed by `configure`; calls to it carry `app`'s key. Stops when dropped.
pub async fn another_instance(app: &TestApp, configure: impl FnOnce(&mut Settings)) -> Instance {
    let mut settings = test_settings();
    settings.database.url = Some(app.database_url.parse().expect("a database URL"));
    settings.server.host = "127.0.0.1".into();
    settings.server.port = 0;
    configure(&mut settings);
    let instance = App::build(settings).await.expect("the service starts");
    let address = format!("http://{}", instance.local_addr());
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(instance.run_until_stopped(async {
        let _ = stopped.await;
    }));
    Instance {
        api: Api::with_credential(address, &app.key),
        _shutdown: shutdown,
    }
}

/// A service running beside a [`TestApp`], and calls to it.
pub struct Instance {
    pub api: Api,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

/// Every permission the API's routes declare (read from its OpenAPI document).
pub fn every_permission() -> Vec<String> {
    let doc = serde_json::to_value(service::api::openapi(&test_settings())).expect("JSON");
    let mut permissions: Vec<String> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(Value::as_object)
        .flat_map(|methods| methods.values())
        .filter_map(|operation| operation["security"].as_array())
        .flatten()
        .filter_map(|requirement| requirement["bearer"].as_array())
        .flatten()
        .filter_map(|scope| scope.as_str().map(str::to_owned))
        .collect();
    permissions.push(service::api::auth::DOCS_PERMISSION.into());
    permissions.sort();
    permissions.dedup();
    permissions
}

/// Makes an API key named `name` with `scopes` in `db`, as `keys create` does.
pub async fn make_key(db: &DatabaseConnection, name: &str, scopes: &[String]) -> String {
    service::auth::keys::create(db, name, scopes, None)
        .await
        .expect("a key")
        .key
}

/// The settings of `APP_ENV=test`, from the files in `config/`.
pub fn test_settings() -> Settings {
    let vars = HashMap::from([(config::ENV_VAR.to_owned(), "test".to_owned())]);
    Settings::load_from(&vars).expect("config/test.yaml loads")
}

impl TestApp {
    /// Calls to this service without credentials.
    pub fn anonymous(&self) -> Api {
        Api::new(&self.address)
    }

    /// Calls to this service with `credential` (an API key or a token).
    pub fn with_credential(&self, credential: &str) -> Api {
        Api::with_credential(&self.address, credential)
    }

    /// Calls with a new key (named `name`) that holds only `scopes`.
    pub async fn as_caller(&self, name: &str, scopes: &[&str]) -> Api {
        let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_owned()).collect();
        let key = make_key(self.db().await, name, &scopes).await;
        self.with_credential(&key)
    }

    /// A connection to the service's database, opened on first use.
    pub async fn db(&self) -> &DatabaseConnection {
        self.db.get_or_init(|| self.database.connect()).await
    }

    /// Creates a person ([`fixtures::person`]) and returns it as the API shows it.
    pub async fn create_person(&self, name: &str, age: i32) -> Value {
        let person = fixtures::person(self.db().await, name, age).await;
        let response = self.get(&format!("/v1/persons/{}", person.id)).await;
        assert_eq!(response.status(), 200, "person created");
        response.json().await.expect("JSON body")
    }

    /// Stops the service gracefully and waits for it to finish (its database stays).
    pub async fn stop(&mut self) -> std::io::Result<()> {
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

/// `GET /metrics`, checked to be Prometheus text.
pub async fn scrape(api: &Api) -> String {
    let response = api.get("/metrics").await;
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

/// A `POST /v1/persons` sent in two halves, to keep a request in flight on purpose.
pub struct HalfSentRequest {
    stream: tokio::net::TcpStream,
    rest: &'static str,
}

impl HalfSentRequest {
    /// Sends the head (with `key`) and the first bytes of a valid body to `address`
    /// (`host:port`).
    pub async fn start(address: &str, key: &str) -> Self {
        use tokio::io::AsyncWriteExt;

        let body = r#"{"name": "Ada", "age": 36}"#;
        let (first, rest) = body.split_at(10);
        let mut stream = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/persons HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Authorization: Bearer {key}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{first}",
            body.len()
        );
        stream.write_all(head.as_bytes()).await.expect("write head");
        Self { stream, rest }
    }

    /// Sends the rest of the body and returns the raw answer (the connection then closes).
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
