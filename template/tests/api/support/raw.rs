//! Clients over raw TCP, for what an HTTP client library will not do: a head sent a byte
//! at a time, connections opened and left silent.
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `host:port` of `http://host:port`.
pub fn host_port(address: &str) -> String {
    address.trim_start_matches("http://").to_owned()
}

/// Sends a request head one byte every 200 ms, never finishing it, until the server
/// closes the connection or `patience` runs out; how long the server kept it open, or
/// `None` if it never closed it.
pub async fn trickle_a_head(address: &str, patience: Duration) -> Option<Duration> {
    let started = Instant::now();
    let stream = TcpStream::connect(address).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let closed = tokio::spawn(async move {
        let mut answer = Vec::new();
        // Ends at the server's close (0 bytes, or a reset).
        let _ = reader.read_to_end(&mut answer).await;
        Instant::now()
    });
    writer
        .write_all(b"GET /mon/ping HTTP/1.1\r\nHost: test\r\n")
        .await
        .expect("write the first line");
    let header = b"X-Slow: ".iter().chain(std::iter::repeat(&b'a'));
    for byte in header {
        if closed.is_finished() || started.elapsed() > patience {
            break;
        }
        if writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    match tokio::time::timeout(Duration::from_secs(1), closed).await {
        Ok(Ok(at)) => Some(at - started),
        _ => None,
    }
}

/// Waits up to `patience` for the server to close `stream`; whether it did.
pub async fn closed_by_server(stream: &mut TcpStream, patience: Duration) -> bool {
    let mut byte = [0; 1];
    matches!(
        tokio::time::timeout(patience, stream.read(&mut byte)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// One request on `stream`, kept alive; the raw answer's head and body (one read of it).
pub async fn exchange(stream: &mut TcpStream, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("write the request");
    let mut answer = vec![0; 64 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("answered before 10 s")
        .expect("read");
    String::from_utf8_lossy(&answer[..read]).into_owned()
}
