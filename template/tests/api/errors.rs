use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::app::{error_of, spawn_app, spawn_app_with};

#[tokio::test]
async fn an_unknown_route_returns_a_json_404() {
    let app = spawn_app().await;

    let (status, code, _) = error_of(app.get("/v1/nothing/here").await).await;

    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn a_wrong_method_returns_a_json_405_with_allow() {
    let app = spawn_app().await;

    let response = app.delete("/v1/persons").await;

    let allow = response.headers()["allow"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (405, "method_not_allowed"));
}

#[tokio::test]
async fn a_database_failure_returns_a_json_500_without_internals() {
    let app = spawn_app().await;
    let db = sea_orm::Database::connect(app.database_url.as_str())
        .await
        .expect("connect to the service's database");
    // Renamed rather than dropped: tables that refer to persons (a generated resource's)
    // would stop a drop.
    sea_orm::ConnectionTrait::execute_unprepared(&db, "ALTER TABLE persons RENAME TO gone")
        .await
        .expect("take the table away from behind the API");
    let _ = db.close().await;

    let (status, code, body) = error_of(app.get("/v1/persons").await).await;

    assert_eq!((status, code.as_str()), (500, "internal_error"));
    assert_eq!(
        body["error"]["message"], "internal error",
        "no SQL leaks: {body}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;

    for path in ["/mon/ping", "/v1/persons", "/v1/persons/1", "/nowhere"] {
        let response = app.get(path).await;
        let id = response.headers()["x-request-id"].to_str().expect("ASCII");
        assert_eq!(id.len(), 36, "{path}: a generated UUID, got {id}");
    }
}

#[tokio::test]
async fn a_request_id_sent_by_the_client_is_kept() {
    let app = spawn_app().await;

    let response = app
        .get("/v1/persons")
        .header("x-request-id", "client-chosen-42")
        .await;

    assert_eq!(response.headers()["x-request-id"], "client-chosen-42");
}

#[tokio::test]
async fn a_deprecated_route_says_so_in_its_headers() {
    let app = spawn_app().await;

    let old = app.get("/v1/people").await;
    assert_eq!(old.status(), 200);
    let headers = old.headers();
    assert_eq!(headers["x-deprecated"], "true");
    assert_eq!(headers["deprecation"], "@1735689600");
    assert_eq!(headers["sunset"], "Fri, 01 Jan 2027 00:00:00 GMT");
    assert_eq!(headers["link"], "</v1/persons>; rel=\"successor-version\"");

    let current = app.get("/v1/persons").await;
    assert!(current.headers().get("x-deprecated").is_none());
}

#[tokio::test]
async fn a_request_over_the_time_limit_returns_a_json_408() {
    let app = spawn_app_with(|settings| settings.server.request_timeout_secs = 1).await;
    let address = app.address.trim_start_matches("http://");

    // Announce a body and never send it: the handler waits until the timeout strikes.
    let mut stream = TcpStream::connect(address).await.expect("connect");
    // The body's first bytes are appended, not formatted: no doubled braces in the source.
    let head = format!(
        "POST /v1/persons HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {}\r\nContent-Length: 40\r\n\r\n",
        app.key
    ) + r#"{"name":"#;
    stream.write_all(head.as_bytes()).await.expect("write");
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered before 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..read]);

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"request_timeout\""), "{answer}");
}

/// Writes a whole request, 3 MiB of body first (three times the limit: what is drained),
/// and only then reads the answer, as Python's urllib and many scripts do. `chunked`
/// sends it without `Content-Length`.
fn write_everything_then_read(
    address: &str,
    key: &str,
    content_type: &str,
    chunked: bool,
) -> String {
    use std::io::{Read, Write};

    const SIZE: usize = 3 * 1024 * 1024;
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let framing = if chunked {
        "Transfer-Encoding: chunked".to_owned()
    } else {
        format!("Content-Length: {SIZE}")
    };
    let head = format!(
        "POST /v1/persons HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n\
         Authorization: Bearer {key}\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write the head");
    let chunk = vec![b' '; 64 * 1024];
    for _ in 0..SIZE / chunk.len() {
        if chunked {
            stream
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .expect("write a chunk size");
        }
        // A reset here is the bug: the service closed while the client was writing.
        stream.write_all(&chunk).expect("the whole body is written");
        if chunked {
            stream.write_all(b"\r\n").expect("write a chunk end");
        }
    }
    if chunked {
        stream
            .write_all(b"0\r\n\r\n")
            .expect("write the last chunk");
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("the answer is read");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_writes_its_whole_body_first_reads_the_json_error() {
    let app = spawn_app().await;
    let address = app.address.trim_start_matches("http://").to_owned();

    for (content_type, chunked, status, code) in [
        ("application/json", false, 413, "payload_too_large"),
        ("application/json", true, 413, "payload_too_large"),
        // Refused before any of the body is read.
        ("text/plain", false, 415, "unsupported_media_type"),
    ] {
        let (address, key) = (address.clone(), app.key.clone());
        let answer = tokio::task::spawn_blocking(move || {
            write_everything_then_read(&address, &key, content_type, chunked)
        })
        .await
        .expect("the client ran");

        let case = format!("{content_type}, chunked: {chunked}");
        assert!(
            answer.starts_with(&format!("HTTP/1.1 {status}")),
            "{case}: {answer}"
        );
        assert!(
            answer.contains(&format!("\"code\":\"{code}\"")),
            "{case}: {answer}"
        );
    }
}
