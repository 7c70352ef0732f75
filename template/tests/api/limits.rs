//! What one client sends cannot hurt another: request ids, slow and idle connections,
//! requests in flight, large heads, deep pages and refused bodies, each bounded.
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::app::{HalfSentRequest, error_of, spawn_app, spawn_app_with};
use crate::support::raw::{closed_by_server, exchange, host_port, trickle_a_head};
use crate::support::redis::TestRedis;

#[tokio::test]
async fn a_long_request_id_is_replaced_and_fails_no_one_in_a_shared_batch() {
    // Through Redis, where scheduling calls made together share one INSERT.
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let app = spawn_app_with(|settings| redis.configure(settings)).await;
    let mut persons = Vec::new();
    for n in 0..16 {
        let person = app.create_person(&format!("Person {n}"), 20).await;
        persons.push(person["id"].as_i64().expect("id"));
    }
    let long = "x".repeat(300);

    let mut innocent_failures = Vec::new();
    let mut long_id_calls = Vec::new();
    for round in 0..20 {
        // 16 birthdays at once, scheduled together; one of them with a 300-character id.
        let calls = persons.iter().enumerate().map(|(n, id)| {
            let id_header = if n == 7 {
                long.clone()
            } else {
                format!("round-{round}-call-{n}")
            };
            let call = app
                .post(&format!("/v1/persons/{id}/birthday"))
                .header("x-request-id", &id_header);
            async move {
                let response = call.await;
                let status = response.status().as_u16();
                let echoed = response.headers()["x-request-id"]
                    .to_str()
                    .expect("ASCII")
                    .to_owned();
                let task: Value = response.json().await.unwrap_or_default();
                (n, status, echoed, task)
            }
        });
        for (n, status, echoed, task) in futures_join_all(calls).await {
            if n == 7 {
                long_id_calls.push((status, echoed, task));
            } else if status != 202 || echoed != format!("round-{round}-call-{n}") {
                innocent_failures.push(format!("round {round}, call {n}: {status} {task}"));
            }
        }
    }
    assert!(
        innocent_failures.is_empty(),
        "{} innocent failures: {innocent_failures:#?}",
        innocent_failures.len()
    );
    for (status, echoed, task) in long_id_calls {
        assert_eq!(status, 202, "the long-id call itself succeeds: {task}");
        assert!(
            uuid::Uuid::parse_str(&echoed).is_ok(),
            "a generated id in its place: {echoed}"
        );
        assert_eq!(task["request_id"], echoed.as_str(), "the task has it too");
    }
}

/// Awaits every future, all at once.
async fn futures_join_all<F: Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut outputs = Vec::new();
    for handle in handles {
        outputs.push(handle.await.expect("joined"));
    }
    outputs
}

#[tokio::test]
async fn a_client_that_trickles_its_head_is_cut_off_while_others_are_served() {
    let app = spawn_app_with(|settings| settings.server.header_read_timeout_secs = 1).await;
    let address = host_port(&app.address);

    let slow = tokio::spawn({
        let address = address.clone();
        async move { trickle_a_head(&address, Duration::from_secs(20)).await }
    });
    // Meanwhile, other clients are served as usual.
    for _ in 0..5 {
        assert_eq!(app.get("/mon/ping").await.status(), 200);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let kept = slow.await.expect("joined");
    let kept = kept.expect("the slow client was cut off");
    assert!(
        kept >= Duration::from_secs(1),
        "not before the timeout: {kept:?}"
    );
    assert!(
        kept < Duration::from_secs(15),
        "cut off at 1 s, not {kept:?}"
    );
}

#[tokio::test]
async fn a_kept_alive_connection_waits_the_idle_timeout_not_the_header_timeout() {
    let app = spawn_app_with(|settings| {
        settings.server.header_read_timeout_secs = 1;
        settings.server.idle_timeout_secs = 3;
    })
    .await;
    let mut stream = TcpStream::connect(host_port(&app.address))
        .await
        .expect("connect");

    let answer = exchange(&mut stream, "/mon/ping").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Idle for longer than the header timeout: still open.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let answer = exchange(&mut stream, "/mon/ping").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Idle past the idle timeout: closed.
    assert!(
        closed_by_server(&mut stream, Duration::from_secs(15)).await,
        "an idle connection is closed after server.idle_timeout_secs"
    );
}

#[tokio::test]
async fn idle_connections_beyond_the_bound_are_closed_and_a_new_client_is_served() {
    let app = spawn_app_with(|settings| {
        settings.server.max_connections = 4;
        // Long enough that only the bound can explain a close.
        settings.server.header_read_timeout_secs = 60;
        settings.server.idle_timeout_secs = 60;
    })
    .await;
    let address = host_port(&app.address);
    let mut silent = Vec::new();
    for _ in 0..12 {
        silent.push(TcpStream::connect(&address).await.expect("connect"));
    }

    let ping = tokio::time::timeout(Duration::from_secs(10), app.get("/mon/ping")).await;
    assert_eq!(
        ping.expect("answered before 10 s").status(),
        200,
        "a new client is served"
    );
    let mut closed = 0;
    for stream in &mut silent {
        if closed_by_server(stream, Duration::from_secs(2)).await {
            closed += 1;
        }
    }
    assert!(
        closed >= 12 - 4,
        "idle connections make room: {closed} of 12 closed"
    );
}

#[tokio::test]
async fn a_request_over_the_in_flight_bound_gets_a_503_at_once() {
    let app = spawn_app_with(|settings| settings.server.max_in_flight = 2).await;
    let address = host_port(&app.address);
    let first = HalfSentRequest::start(&address, &app.key).await;
    let second = HalfSentRequest::start(&address, &app.key).await;

    let (status, retry_after, code) = eventually_shed(&app).await;
    assert_eq!((status, code.as_str()), (503, "overloaded"));
    assert_eq!(retry_after.as_deref(), Some("2"));
    assert_eq!(
        app.get("/mon/ping").await.status(),
        200,
        "liveness is never shed"
    );

    assert!(first.finish().await.starts_with("HTTP/1.1 201"));
    assert!(second.finish().await.starts_with("HTTP/1.1 201"));
    assert_eq!(
        app.get("/v1/persons").await.status(),
        200,
        "places come back"
    );
}

/// `GET /v1/persons` once both half-sent requests are in their handlers: status,
/// `Retry-After` and code.
async fn eventually_shed(app: &crate::support::app::TestApp) -> (u16, Option<String>, String) {
    let probe = async || {
        let response = app.get("/v1/persons").await;
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if response.status() == 200 {
            return (200, None, String::new());
        }
        let (status, code, _) = error_of(response).await;
        (status, retry_after, code)
    };
    crate::support::eventually(Duration::from_secs(5), probe, |(status, ..)| *status == 503).await
}

#[tokio::test]
async fn a_head_over_the_size_limit_gets_a_431() {
    let app = spawn_app().await;
    let mut stream = TcpStream::connect(host_port(&app.address))
        .await
        .expect("connect");
    let head = format!(
        "GET /mon/ping HTTP/1.1\r\nHost: test\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    // The server may stop reading before the whole head is written.
    let _ = stream.write_all(head.as_bytes()).await;
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered before 10 s")
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Within the limit (32 KiB by default) is fine.
    let response = app
        .get("/mon/ping")
        .header("x-big", &"a".repeat(16 * 1024))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn deep_pages_are_refused_at_once_and_others_are_served() {
    let app = spawn_app().await;
    app.create_person("Ada", 36).await;

    let deep = (0..10).map(|n| {
        let call = app.get(&format!(
            "/v1/persons?page={}&per_page=10",
            900_719_925_474_099_u64 - n
        ));
        async move { error_of(call.await).await }
    });
    let others = (0..10).map(|_| {
        let call = app.get("/v1/persons");
        async move { call.await.status().as_u16() }
    });
    let (deep, others) = tokio::join!(
        futures_join_all(deep.collect::<Vec<_>>().into_iter()),
        futures_join_all(others.collect::<Vec<_>>().into_iter())
    );

    for (status, code, body) in deep {
        assert_eq!((status, code.as_str()), (400, "bad_request"));
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("at most 10000"),
            "names the bound: {message}"
        );
    }
    assert!(others.iter().all(|status| *status == 200), "{others:?}");
    // The bound is page × per_page: the 500th page of 20 is the last.
    assert_eq!(
        app.get("/v1/persons?page=500&per_page=20").await.status(),
        200
    );
    let (status, ..) = error_of(app.get("/v1/persons?page=501&per_page=20").await).await;
    assert_eq!(status, 400);
}

/// Writes a head declaring a `length`-byte JSON body, then writes body bytes as fast as
/// the server takes them (up to `length`), reading the answer meanwhile; the bytes
/// written and the answer.
fn write_a_body_while_reading(address: &str, key: &str, length: usize) -> (usize, String) {
    use std::io::{Read, Write};

    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    stream
        .set_write_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut reader = stream.try_clone().expect("a second handle");
    let answer = std::thread::spawn(move || {
        let mut answer = Vec::new();
        let mut chunk = [0; 4096];
        // A reset after the answer ends the read too.
        while let Ok(read @ 1..) = reader.read(&mut chunk) {
            answer.extend_from_slice(&chunk[..read]);
        }
        String::from_utf8_lossy(&answer).into_owned()
    });
    let head = format!(
        "POST /v1/persons HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {key}\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write the head");
    let chunk = vec![b' '; 64 * 1024];
    let mut written = 0;
    while written < length {
        let size = chunk.len().min(length - written);
        match stream.write(&chunk[..size]) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n,
        }
    }
    (written, answer.join().expect("the reader ran"))
}

#[tokio::test]
async fn a_body_far_over_the_limit_is_not_drained_and_its_connection_closes() {
    let app = spawn_app().await;
    let address = host_port(&app.address);
    let key = app.key.clone();

    // 1 GiB declared, against a limit of 1 MiB: not plausibly honest.
    let (written, answer) = tokio::task::spawn_blocking(move || {
        write_a_body_while_reading(&address, &key, 1024 * 1024 * 1024)
    })
    .await
    .expect("the client ran");

    assert!(
        written < 32 * 1024 * 1024,
        "the service stopped reading at once, not after draining: {written} bytes taken"
    );
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
}
