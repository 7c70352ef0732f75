//! What the tests share, by topic; the files beside this folder are the features.
//!
//! - [`service`]: the crate under test and its executable, named once.
//! - [`app`]: the service in this process ([`app::TestApp`]), and HTTP calls ([`app::Api`])
//!   to it or to a service process.
//! - [`database`], [`redis`]: a database and a Redis namespace per test, on the servers
//!   [`provision`] finds (a variable, else a container, else a fallback or a skip);
//!   [`cluster`]: a Redis Cluster on loopback, shared or a test's own.
//! - [`process`]: the service's commands (`serve`, `worker`, `beat`) as processes.
//! - [`tasks`]: a database and a task queue without HTTP, for the queue's own tests;
//!   [`test_tasks`]: tasks that exist only for the tests.
//! - [`fixtures`]: one way to make each thing a test starts from.
//! - [`listeners`]: stand-ins for the log servers and Sentry; [`otlp`]: for a trace
//!   collector; [`oidc`]: a real OpenID provider (node and the `oidc-provider` package).
//! - [`raw`]: clients over raw TCP (a head sent a byte at a time, silent connections).
use std::time::{Duration, Instant};

pub mod app;
pub mod cluster;
pub mod database;
pub mod fixtures;
pub mod listeners;
pub mod oidc;
pub mod otlp;
pub mod process;
pub mod provision;
pub mod raw;
pub mod redis;
pub mod service;
pub mod tasks;
pub mod test_tasks;

/// Runs `probe` until its answer satisfies `done` or `patience` runs out, and returns the
/// last answer: the caller asserts on it, with a message that says what it saw. Polled
/// rather than slept, so that a loaded machine only makes a test slower.
pub async fn eventually<T>(
    patience: Duration,
    mut probe: impl AsyncFnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + patience;
    let mut pause = Duration::from_millis(10);
    loop {
        let answer = probe().await;
        if done(&answer) || Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// Sends `per_client` pings to `url` from each of 8 concurrent clients; all must
/// succeed. Their latencies, sorted.
pub async fn ping_latencies(
    client: &reqwest::Client,
    url: &str,
    per_client: usize,
) -> Vec<Duration> {
    let mut clients = Vec::new();
    for _ in 0..8 {
        let (client, url) = (client.clone(), url.to_owned());
        clients.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..per_client {
                let sent = Instant::now();
                let response = client.get(&url).send().await.expect("request sent");
                assert_eq!(response.status(), 200);
                latencies.push(sent.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.await.expect("client"));
    }
    latencies.sort();
    latencies
}

/// Writes straight to stderr, past the test harness's capture, so that a skipped or
/// downgraded test is seen even when it passes.
pub fn notice(text: &str) {
    use std::io::Write;

    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Skips a test that lacks what `message` names, loudly; under `CI` that fails it instead.
pub fn skip(message: &str) {
    assert!(std::env::var_os("CI").is_none(), "{message} (CI is set)");
    notice(&format!("*** {message}."));
}
