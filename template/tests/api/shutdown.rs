use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::spawn_app;

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let app = spawn_app().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let body = r#"{"name": "Ada", "age": 36}"#;
    let (first, rest) = body.split_at(10);

    // Start a request, then stop the service while its body is still on the way.
    let mut stream = TcpStream::connect(&address).await.expect("connect");
    let head = format!(
        "POST /v1/persons HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{first}",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write head");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stopping.is_finished(), "the service waits for the request");

    stream.write_all(rest.as_bytes()).await.expect("write rest");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered before 10 s")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let stopped = tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("stopped before 10 s")
        .expect("joined");
    assert!(stopped.is_ok(), "{stopped:?}");
    assert!(
        TcpStream::connect(&address).await.is_err(),
        "no longer listening"
    );
}
