//! PostgreSQL away: requests that need it answer 503 `unavailable` with `Retry-After`,
//! quickly while it is known to be away, and 200 again once it is back, without a restart.
//! PostgreSQL busy (every pooled connection in use, a statement over its timeout): a 503
//! for the request that waited, and no outage for the others.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::support::app::{TestApp, error_of, spawn_app_with};
use crate::support::eventually;

/// How long the pool tries to connect before it gives up, in this test.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// A TCP relay in front of PostgreSQL, which can stop as a stopped server does: its
/// connections cut, new ones refused (nothing listens on its port).
struct Relay {
    address: SocketAddr,
    target: String,
    serving: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(listener: std::net::TcpListener, target: String) -> Self {
        let address = listener.local_addr().expect("address");
        listener.set_nonblocking(true).expect("non-blocking");
        let listener = TcpListener::from_std(listener).expect("a tokio listener");
        let serving = tokio::spawn(relay(listener, target.clone()));
        Self {
            address,
            target,
            serving: Some(serving),
        }
    }

    /// Cuts every connection and refuses new ones.
    async fn stop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
            let _ = serving.await;
        }
    }

    /// Listens again, on the same port.
    async fn restart(&mut self) {
        let listener = TcpListener::bind(self.address).await.expect("rebind");
        self.serving = Some(tokio::spawn(relay(listener, self.target.clone())));
    }
}

async fn relay(listener: TcpListener, target: String) {
    // Dropped with this task: aborting it cuts every connection.
    let mut connections = JoinSet::new();
    while let Ok((mut client, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let target = target.clone();
        connections.spawn(async move {
            if let Ok(mut server) = TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            }
        });
    }
}

/// The service, with its database reached through a [`Relay`]; `None` on SQLite.
async fn spawn_behind_relay() -> Option<(TestApp, Relay)> {
    let mut relay = None;
    let app = spawn_app_with(|settings| {
        let url = settings.database.url.as_ref().expect("a database URL");
        let mut url = url::Url::parse(url.expose()).expect("a URL");
        if url.scheme() != "postgres" && url.scheme() != "postgresql" {
            return;
        }
        let target = format!(
            "{}:{}",
            url.host_str().expect("a host"),
            url.port().unwrap_or(5432)
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let started = Relay::start(listener, target);
        url.set_host(Some("127.0.0.1")).expect("host");
        url.set_port(Some(started.address.port())).expect("port");
        settings.database.url = Some(url.as_str().parse().expect("a database URL"));
        settings.database.connect_timeout_secs = CONNECT_TIMEOUT.as_secs();
        relay = Some(started);
    })
    .await;
    match relay {
        Some(relay) => Some((app, relay)),
        None => {
            crate::support::notice("*** SQLite: the database outage test is SKIPPED.");
            None
        }
    }
}

/// Asks for a person; its status, its `Retry-After` and how long it took.
async fn timed_get(app: &TestApp, path: &str) -> (u16, Option<String>, String, Duration) {
    let started = Instant::now();
    let response = app.get(path).await;
    let elapsed = started.elapsed();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (status, code, _) = error_of(response).await;
    (status, retry_after, code, elapsed)
}

#[tokio::test]
async fn postgres_away_gives_quick_503s_then_200s_again_without_a_restart() {
    let Some((app, mut relay)) = spawn_behind_relay().await else {
        return;
    };
    let person = app.create_person("Ada", 36).await;
    let path = format!("/v1/persons/{}", person["id"]);
    assert_eq!(app.get(&path).await.status(), 200);

    relay.stop().await;

    // The first request finds out (a broken connection, or no connection in the pool's
    // connect timeout).
    let (status, retry_after, code, elapsed) = timed_get(&app, &path).await;
    assert_eq!((status, code.as_str()), (503, "unavailable"));
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert!(
        elapsed < CONNECT_TIMEOUT + Duration::from_secs(2),
        "{elapsed:?}"
    );
    // Then the database is known to be away: no request waits for it.
    for _ in 0..20 {
        let (status, retry_after, code, elapsed) = timed_get(&app, &path).await;
        assert_eq!((status, code.as_str()), (503, "unavailable"));
        assert!(retry_after.is_some(), "Retry-After on every 503");
        assert!(
            elapsed < Duration::from_millis(500),
            "answered in {elapsed:?}"
        );
    }
    let (status, ..) = timed_get(&app, "/v1/persons").await;
    assert_eq!(status, 503, "every route that needs the database");
    assert_eq!(
        app.get("/mon/ping").await.status(),
        200,
        "liveness unaffected"
    );

    relay.restart().await;

    let back = eventually(
        Duration::from_secs(10),
        async || app.get(&path).await.status(),
        |status| *status == 200,
    )
    .await;
    assert_eq!(back, 200, "answers again once the database is back");
    assert_eq!(app.get("/v1/persons").await.status(), 200);
}

/// The service with `configure`d database settings, on PostgreSQL; `None` on SQLite.
async fn spawn_on_postgres(
    configure: impl FnOnce(&mut crate::service::config::DatabaseSettings),
) -> Option<TestApp> {
    let app = spawn_app_with(|settings| configure(&mut settings.database)).await;
    if app.database_url.starts_with("postgres") {
        Some(app)
    } else {
        crate::support::notice("*** SQLite: the busy database tests are SKIPPED.");
        None
    }
}

/// Holds `LOCK TABLE persons` in a transaction of the test's own until dropped (rolled
/// back): the service's queries on persons wait, holding their connections.
async fn lock_persons(app: &TestApp) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    let txn = app.db().await.begin().await.expect("begin");
    txn.execute_unprepared("LOCK TABLE persons IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("lock the table");
    txn
}

/// A request's status, code, message and `Retry-After`.
async fn answer_of(response: reqwest::Response) -> (u16, String, String, Option<String>) {
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if response.status().is_success() {
        return (
            response.status().as_u16(),
            String::new(),
            String::new(),
            None,
        );
    }
    let (status, code, body) = error_of(response).await;
    let message = body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, code, message, retry_after)
}

#[tokio::test]
async fn a_full_pool_is_a_503_for_the_request_that_waited_and_no_outage() {
    let Some(app) = spawn_on_postgres(|database| {
        database.max_connections = 2;
        database.connect_timeout_secs = 1;
        database.statement_timeout_ms = 0;
    })
    .await
    else {
        return;
    };
    let person = app.create_person("Ada", 36).await;
    let path = format!("/v1/persons/{}", person["id"]);
    let lock = lock_persons(&app).await;

    // Two requests wait on the lock, holding both connections of the pool.
    let mut waiting = JoinSet::new();
    for _ in 0..2 {
        let call = app.get(&path);
        waiting.spawn(async move { call.await.status().as_u16() });
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, code, message, retry_after) = answer_of(app.get(&path).await).await;
    assert_eq!((status, code.as_str()), (503, "unavailable"));
    assert_eq!(message, "the database is busy; try again later");
    assert_eq!(retry_after.as_deref(), Some("2"));

    lock.rollback().await.expect("unlock");
    while let Some(status) = waiting.join_next().await {
        assert_eq!(
            status.expect("joined"),
            200,
            "the waiting requests are served"
        );
    }
    // The pool is free again, and no outage was declared: the next ones are served.
    for _ in 0..5 {
        assert_eq!(app.get(&path).await.status(), 200);
    }
}

#[tokio::test]
async fn a_statement_over_its_timeout_is_a_503_for_that_request_only() {
    let Some(app) = spawn_on_postgres(|database| database.statement_timeout_ms = 500).await else {
        return;
    };
    let person = app.create_person("Ada", 36).await;
    let path = format!("/v1/persons/{}", person["id"]);
    let lock = lock_persons(&app).await;

    // Waiting on the lock, the statement is cancelled after 500 ms.
    let answer = tokio::time::timeout(Duration::from_secs(10), app.get(&path)).await;
    let (status, code, message, retry_after) =
        answer_of(answer.expect("answered before the lock is released")).await;
    assert_eq!((status, code.as_str()), (503, "unavailable"));
    assert_eq!(message, "the database is busy; try again later");
    assert!(retry_after.is_some());
    // Requests that do not touch the locked table are answered as usual: no outage.
    let task = app
        .get("/v1/tasks/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(task.status(), 404);

    lock.rollback().await.expect("unlock");
    assert_eq!(app.get(&path).await.status(), 200);
}

/// `SHOW statement_timeout` on a connection of `db`.
async fn statement_timeout(db: &sea_orm::DatabaseConnection) -> String {
    use sea_orm::ConnectionTrait;

    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SHOW statement_timeout",
        ))
        .await
        .expect("SHOW runs")
        .expect("a row");
    row.try_get_by_index::<String>(0).expect("a text")
}

#[tokio::test]
async fn requests_have_the_statement_timeout_and_tasks_and_migrations_do_not() {
    use crate::service::db;

    let Some(app) = spawn_on_postgres(|database| database.statement_timeout_ms = 1500).await else {
        return;
    };
    let mut settings = crate::support::app::test_settings().database;
    settings.url = Some(app.database_url.parse().expect("a database URL"));
    settings.statement_timeout_ms = 1500;

    // The API's pool (`serve`): the timeout.
    let api = db::connect(&settings, &db::Health::default())
        .await
        .expect("connects");
    assert_eq!(statement_timeout(&api).await, "1500ms");
    // Workers, beats and migrations (`db upgrade`, and `serve`'s auto_migrate): the
    // server's own setting.
    let unhurried = db::connect_unhurried(&settings, &db::Health::default())
        .await
        .expect("connects");
    assert_eq!(statement_timeout(&unhurried).await, "0");
}
