use std::time::Duration;

use tokio::net::TcpStream;

use crate::support::app::{HalfSentRequest, spawn_app};

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish() {
    let mut app = spawn_app().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // Start a request, then stop the service while its body is still on the way.
    let request = HalfSentRequest::start(&address, &app.key).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stopping = tokio::spawn(async move { app.stop().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stopping.is_finished(), "the service waits for the request");

    let answer = request.finish().await;
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
