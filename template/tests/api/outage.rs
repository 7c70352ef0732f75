//! PostgreSQL away: requests that need it answer 503 `unavailable` with `Retry-After`,
//! quickly while it is known to be away, and 200 again once it is back, without a restart.
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
