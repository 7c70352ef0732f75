//! Log sinks, end to end: a `serve` process logs to a syslog port and a GELF input
//! started here, with the request id on each line; servers that go away are reconnected
//! to; a stalled one does not hold requests up.
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;

use crate::support::app::{Api, sample, scrape};
use crate::support::database::TestDatabase;
use crate::support::eventually;
use crate::support::listeners::{Framing, Inbox, StalledInput, TcpInput, TlsInput, UdpInput};
use crate::support::process::serve;

/// The service's name: the default syslog APP-NAME.
const SERVICE: &str = env!("CARGO_PKG_NAME");

async fn get_with_id(api: &Api, path: &str, request_id: &str) -> reqwest::StatusCode {
    api.get(path)
        .header("x-request-id", request_id)
        .await
        .status()
}

#[tokio::test]
async fn lines_reach_syslog_and_gelf_with_the_request_id() {
    let syslog = UdpInput::start();
    let gelf = TcpInput::start(Framing::Nul);
    let database = TestDatabase::create().await;
    let (service, api) = serve(
        &database,
        &[
            ("APP__LOG__SYSLOG__ENABLED", "true".into()),
            (
                "APP__LOG__SYSLOG__ADDRESS",
                format!("udp://{}", syslog.address),
            ),
            ("APP__LOG__SYSLOG__FACILITY", "local3".into()),
            ("APP__LOG__GELF__ENABLED", "true".into()),
            ("APP__LOG__GELF__ADDRESS", gelf.address.to_string()),
            ("APP__LOG__GELF__EXTRA_FIELDS__TOKEN", "t0k3n".into()),
        ],
    )
    .await;
    let request_id = format!("logs-{}", Uuid::new_v4());

    assert_eq!(get_with_id(&api, "/mon/ping", &request_id).await, 200);

    let line = syslog
        .inbox
        .wait_for(&format!("request_id={request_id}"))
        .await;
    // local3 (19) * 8 + info (6) = 158; version 1; then time, host, app, pid.
    assert!(line.starts_with("<158>1 "), "{line}");
    let header: Vec<&str> = line.split(' ').collect();
    assert_eq!(header[3], SERVICE, "{line}");
    assert_eq!(header[4], service.pid().to_string(), "{line}");
    assert!(line.contains("route=/mon/ping"), "{line}");

    let record = gelf.inbox.wait_for(&request_id).await;
    let message: Value = serde_json::from_str(&record).expect("GELF is JSON");
    assert_eq!(message["version"], "1.1");
    assert_eq!(message["_request_id"], request_id.as_str());
    assert_eq!(message["_token"], "t0k3n");
    assert_eq!(message["level"], 6);
    assert!(
        message["short_message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(message["host"].as_str().is_some_and(|h| !h.is_empty()));
}

#[tokio::test]
async fn gelf_and_syslog_servers_that_come_back_are_reconnected_to() {
    let gelf = TcpInput::start(Framing::Nul);
    let syslog = TcpInput::start(Framing::OctetCounting);
    let database = TestDatabase::create().await;
    let (service, api) = serve(
        &database,
        &[
            ("APP__LOG__GELF__ENABLED", "true".into()),
            ("APP__LOG__GELF__ADDRESS", gelf.address.to_string()),
            ("APP__LOG__SYSLOG__ENABLED", "true".into()),
            (
                "APP__LOG__SYSLOG__ADDRESS",
                format!("tcp://{}", syslog.address),
            ),
        ],
    )
    .await;
    let before = format!("before-{}", Uuid::new_v4());
    get_with_id(&api, "/mon/ping", &before).await;
    gelf.inbox.wait_for(&before).await;
    syslog.inbox.wait_for(&before).await;

    gelf.stop();
    syslog.stop();
    // Lines logged while they are down are lost (and counted), requests still answered.
    for _ in 0..5 {
        assert_eq!(get_with_id(&api, "/mon/ping", "while-down").await, 200);
    }
    gelf.restart();
    syslog.restart();

    // Each request logs a line; the sinks retry with a growing back-off (at most 10 s).
    let after = format!("after-{}", Uuid::new_v4());
    let arrived = |inbox: &Inbox| inbox.all().iter().any(|r| r.contains(&after));
    let (to_gelf, to_syslog) = eventually(
        Duration::from_secs(30),
        async || {
            let arrivals = (arrived(&gelf.inbox), arrived(&syslog.inbox));
            if arrivals != (true, true) {
                get_with_id(&api, "/mon/ping", &after).await;
            }
            arrivals
        },
        |&arrivals| arrivals == (true, true),
    )
    .await;
    assert!(
        to_gelf && to_syslog,
        "no line after the restart (gelf: {to_gelf}, syslog: {to_syslog}):\n{}",
        service.output()
    );
    assert!(
        service.output().contains("connected to"),
        "the reconnection is reported on stderr:\n{}",
        service.output()
    );
}

#[tokio::test]
async fn a_stalled_log_server_does_not_hold_requests_up_and_drops_are_counted() {
    let stalled = StalledInput::start();
    let healthy = TcpInput::start(Framing::Nul);
    // Big lines fill the socket buffers at once; a small queue then overflows. The same
    // lines go to a server that reads them, for comparison (formatting costs the same).
    let gelf_to = |input: std::net::SocketAddr| {
        [
            ("APP__LOG__GELF__ENABLED", "true".to_owned()),
            ("APP__LOG__GELF__ADDRESS", input.to_string()),
            ("APP__LOG__GELF__QUEUE_CAPACITY", "16".to_owned()),
            ("APP__LOG__GELF__EXTRA_FIELDS__PADDING", "x".repeat(16_000)),
        ]
    };
    let database = TestDatabase::create().await;
    let (service, api) = serve(&database, &gelf_to(stalled.address)).await;
    let healthy_database = TestDatabase::create().await;
    let (_healthy, healthy_api) = serve(&healthy_database, &gelf_to(healthy.address)).await;
    let client = reqwest::Client::new();

    let (stalled_run, slowest) = load(&client, &api.address).await;
    let (healthy_run, _) = load(&client, &healthy_api.address).await;

    // A measurement for the record, not a speed target (benchmarks do those).
    crate::support::notice(&format!(
        "2,000 requests, 8 clients, 16 kB GELF lines: to a stalled server {stalled_run}; \
         to a server that reads {healthy_run}"
    ));
    // Not a speed target: a request that waited on the stalled server would wait out the
    // sink's 2 s write timeout; none comes close.
    assert!(
        slowest < Duration::from_millis(1500),
        "a request waited {slowest:?} behind the stalled log server"
    );

    let metrics = scrape(&api).await;
    let dropped = sample(&metrics, r#"log_lines_dropped_total{sink="gelf"}"#);
    assert!(
        dropped > 0.0,
        "lines were dropped and counted:\n{metrics}\n{}",
        service.output()
    );
    // And reported, within the reporting period (10 s).
    service
        .wrote("log lines dropped", Duration::from_secs(15))
        .await;
}

/// Sends 2,000 pings from 8 clients; all must succeed. Returns the timings, as text, and
/// the slowest request.
async fn load(client: &reqwest::Client, address: &str) -> (String, Duration) {
    let started = Instant::now();
    let latencies =
        crate::support::ping_latencies(client, &format!("{address}/mon/ping"), 250).await;
    let percentile = |p: usize| latencies[latencies.len() * p / 100 - 1];
    let slowest = latencies[latencies.len() - 1];
    let text = format!(
        "{:?} in all, p50 {:?}, p99 {:?}, max {slowest:?}",
        started.elapsed(),
        percentile(50),
        percentile(99),
    );
    (text, slowest)
}

#[tokio::test]
async fn gelf_goes_over_tls_to_a_server_trusted_through_ca_file() {
    let Some(gelf) = TlsInput::start() else {
        return;
    };
    let database = TestDatabase::create().await;
    let (service, api) = serve(
        &database,
        &[
            ("APP__LOG__GELF__ENABLED", "true".into()),
            ("APP__LOG__GELF__ADDRESS", gelf.address.to_string()),
            ("APP__LOG__GELF__TLS", "true".into()),
            (
                "APP__LOG__GELF__CA_FILE",
                gelf.ca_file.display().to_string(),
            ),
        ],
    )
    .await;
    let request_id = format!("tls-{}", Uuid::new_v4());

    get_with_id(&api, "/mon/ping", &request_id).await;

    let record = gelf.inbox.wait_for(&request_id).await;
    let message: Value = serde_json::from_str(&record).expect("GELF is JSON");
    assert_eq!(
        message["_request_id"],
        request_id.as_str(),
        "{}",
        service.output()
    );
}

#[tokio::test]
async fn gelf_over_tls_refuses_a_server_it_does_not_trust() {
    let Some(gelf) = TlsInput::start() else {
        return;
    };
    let database = TestDatabase::create().await;
    let (service, api) = serve(
        &database,
        &[
            ("APP__LOG__GELF__ENABLED", "true".into()),
            ("APP__LOG__GELF__ADDRESS", gelf.address.to_string()),
            ("APP__LOG__GELF__TLS", "true".into()),
        ],
    )
    .await;

    assert_eq!(get_with_id(&api, "/mon/ping", "untrusted").await, 200);

    service
        .wrote("log sink gelf: cannot connect", Duration::from_secs(10))
        .await;
    assert!(
        gelf.inbox.all().is_empty(),
        "nothing reaches an untrusted server"
    );
}

#[tokio::test]
async fn the_file_sink_writes_json_lines_with_the_request_id() {
    let logs = tempfile::tempdir().expect("temp dir");
    let database = TestDatabase::create().await;
    let (service, api) = serve(
        &database,
        &[
            ("APP__LOG__FILE__ENABLED", "true".into()),
            (
                "APP__LOG__FILE__DIRECTORY",
                logs.path().display().to_string(),
            ),
            ("APP__LOG__FILE__ROTATION", "hourly".into()),
        ],
    )
    .await;
    let request_id = format!("file-{}", Uuid::new_v4());

    get_with_id(&api, "/mon/ping", &request_id).await;

    let line = eventually(
        Duration::from_secs(10),
        async || {
            std::fs::read_dir(logs.path())
                .expect("the log folder")
                .flatten()
                .filter(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.starts_with(&format!("{SERVICE}.")) && name.ends_with(".log")
                })
                .flat_map(|entry| {
                    std::fs::read_to_string(entry.path())
                        .unwrap_or_default()
                        .lines()
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .find(|line| line.contains(&request_id))
        },
        Option::is_some,
    )
    .await;
    let line =
        line.unwrap_or_else(|| panic!("no line in {:?}:\n{}", logs.path(), service.output()));
    let record: Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(
        record["spans"][0]["request_id"],
        request_id.as_str(),
        "{record}"
    );
    assert_eq!(record["level"], "INFO");
}

#[tokio::test]
async fn syslog_goes_to_a_unix_socket() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("log.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&path).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let database = TestDatabase::create().await;
    let (service, api) = serve(
        &database,
        &[
            ("APP__LOG__SYSLOG__ENABLED", "true".into()),
            (
                "APP__LOG__SYSLOG__ADDRESS",
                format!("unix://{}", path.display()),
            ),
        ],
    )
    .await;
    let request_id = format!("unix-{}", Uuid::new_v4());

    get_with_id(&api, "/mon/ping", &request_id).await;

    let wanted = format!("request_id={request_id}");
    let received = tokio::task::spawn_blocking(move || {
        let mut buffer = vec![0u8; 70_000];
        loop {
            let size = socket.recv(&mut buffer).ok()?;
            let line = String::from_utf8_lossy(&buffer[..size]).into_owned();
            if line.contains(&wanted) {
                return Some(line);
            }
        }
    })
    .await
    .expect("receiver");
    let line = received.unwrap_or_else(|| panic!("nothing on the socket:\n{}", service.output()));
    // user (1) * 8 + info (6) = 14.
    assert!(line.starts_with("<14>1 "), "{line}");
}
