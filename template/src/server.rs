//! The HTTP/1.1 server under the API and the metrics listener of `worker` and `beat`: it
//! bounds what a client holds by keeping a connection open.
//!
//! - **Header-read timeout**: a request head must arrive whole within
//!   `server.header_read_timeout_secs` of its first byte (of the connection's opening, for
//!   its first request): a client trickling a byte every few seconds is cut off (hyper's
//!   own timeout, given a timer).
//! - **Idle timeout**: a kept-alive connection waits for its next request at most
//!   `server.idle_timeout_secs`. hyper counts both with one timer, started when it waits
//!   for a head; the timer given to it ([`HeadTimer`]) waits the idle time until a byte
//!   comes, then the header-read time, as Go's server, nginx and envoy do.
//! - **Connections**: at most `server.max_connections` at once. One more is accepted and
//!   waits for a place; meanwhile every connection is asked to close gracefully: idle ones
//!   (opened and silent, or kept alive between requests) close at once, busy ones after
//!   their answer. Further clients wait in the listener's backlog (the kernel's queue), not
//!   refused. A client holding a half-sent head keeps its place until its header timeout.
//! - **Head size**: at most `server.max_header_bytes` (hyper answers 431 past it).
//! - **Graceful shutdown**: the listener closes, idle connections close, busy ones finish
//!   their answer.
//!
//! Requests in flight are bounded one layer up, where a 503 can be answered (see
//! [`crate::api::middleware::shed`]).
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::config::ServerSettings;

/// What a connection may hold, from `server.*`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub max_header_bytes: usize,
}

impl From<&ServerSettings> for Limits {
    fn from(settings: &ServerSettings) -> Self {
        Self {
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
            idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
            max_connections: settings.max_connections,
            max_header_bytes: settings.max_header_bytes,
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then closes
/// the listener and returns once every connection has ended (idle ones at once, busy ones
/// after their answer). The caller bounds that wait.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let places = Arc::new(Semaphore::new(limits.max_connections));
    // Each connection watches it: a new value asks them all to close gracefully (at the
    // bound, and at shutdown); each holds a receiver until it ends.
    let (closing, _) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    refused(error).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let place = match places.clone().try_acquire_owned() {
            Ok(place) => place,
            Err(_) => {
                // At the bound, with a client waiting: idle connections make room.
                tracing::debug!(
                    max_connections = limits.max_connections,
                    "every connection is taken: asking idle ones to close"
                );
                closing.send_replace(());
                tokio::select! {
                    place = places.clone().acquire_owned() => match place {
                        Ok(place) => place,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        tokio::spawn(connection(
            stream,
            place,
            closing.subscribe(),
            router.clone(),
            limits,
        ));
    }
    drop(listener);
    closing.send_replace(());
    closing.closed().await;
}

/// What an `accept` error calls for. Errors of one connection (reset before it was
/// accepted ...) concern that client only; others (no file descriptor left) are logged
/// and waited out, as hyper used to.
async fn refused(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};

    if matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "cannot accept connections; trying again in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Serves one connection until it ends, holding its `place` among the connections.
async fn connection(
    stream: TcpStream,
    place: OwnedSemaphorePermit,
    mut closing: watch::Receiver<()>,
    router: Router,
    limits: Limits,
) {
    let reads = Arc::new(AtomicU64::new(0));
    let io = TokioIo::new(CountReads {
        stream,
        reads: reads.clone(),
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(HeadTimer {
            reads,
            opened: AtomicBool::new(true),
            idle: limits.idle_timeout,
            header: limits.header_read_timeout,
        })
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    let mut served = std::pin::pin!(builder.serve_connection(io, TowerToHyperService::new(router)));
    let ended = tokio::select! {
        ended = served.as_mut() => ended,
        _ = closing.changed() => {
            served.as_mut().graceful_shutdown();
            served.await
        }
    };
    if let Err(error) = ended {
        // A client that went away or was too slow: its business, not the service's.
        tracing::debug!(%error, "connection ended");
    }
    drop(place);
}

/// The connection's stream, counting the reads that brought bytes (for [`HeadTimer`]).
struct CountReads {
    stream: TcpStream,
    reads: Arc<AtomicU64>,
}

impl AsyncRead for CountReads {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        read
    }
}

impl AsyncWrite for CountReads {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The timer of one connection. hyper's HTTP/1 server uses its timer for one thing: when
/// it starts waiting for a request head it asks for a sleep of the header-read timeout,
/// and closes the connection if the sleep ends first. For the connection's first request
/// that is what it gets; for the next ones, the sleep lasts the idle timeout while no byte
/// comes, then the header-read timeout from the first byte.
struct HeadTimer {
    reads: Arc<AtomicU64>,
    /// No head waited for yet.
    opened: AtomicBool,
    idle: Duration,
    header: Duration,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            sleep: tokio::time::sleep(duration),
            idle: None,
        })
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        if self.opened.swap(false, Ordering::Relaxed) {
            return Box::pin(HeadSleep {
                sleep: tokio::time::sleep_until(deadline.into()),
                idle: None,
            });
        }
        let now = tokio::time::Instant::now();
        Box::pin(HeadSleep {
            sleep: tokio::time::sleep_until(now + self.idle),
            idle: Some(Idle {
                reads: self.reads.clone(),
                before: self.reads.load(Ordering::Relaxed),
                header: self.header,
            }),
        })
    }

    fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into()
    }
}

/// A connection waiting for its next request.
struct Idle {
    reads: Arc<AtomicU64>,
    /// Its reads when the wait began: one more means the head has begun.
    before: u64,
    header: Duration,
}

pin_project_lite::pin_project! {
    /// A sleep of [`HeadTimer`]; hyper polls it each time a read leaves the head
    /// incomplete.
    struct HeadSleep {
        #[pin]
        sleep: tokio::time::Sleep,
        idle: Option<Idle>,
    }
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        let began = this
            .idle
            .as_ref()
            .filter(|idle| idle.reads.load(Ordering::Relaxed) != idle.before)
            .map(|idle| idle.header);
        if let Some(header) = began {
            *this.idle = None;
            this.sleep
                .as_mut()
                .reset(tokio::time::Instant::now() + header);
        }
        this.sleep.poll(cx)
    }
}

impl hyper::rt::Sleep for HeadSleep {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_kept_alive_connection_waits_the_idle_time_then_the_header_time() {
        use hyper::rt::Timer;

        let timer = HeadTimer {
            reads: Arc::new(AtomicU64::new(0)),
            opened: AtomicBool::new(true),
            idle: Duration::from_secs(75),
            header: Duration::from_secs(10),
        };
        let start = tokio::time::Instant::now();
        // The first request: the header time from the opening.
        let first = timer.sleep_until(timer.now() + Duration::from_secs(10));
        first.await;
        assert_eq!(start.elapsed(), Duration::from_secs(10));

        // The next: the idle time while nothing comes.
        let start = tokio::time::Instant::now();
        timer
            .sleep_until(timer.now() + Duration::from_secs(10))
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(75));

        // A byte after 30 s: the header time from then.
        let start = tokio::time::Instant::now();
        let mut next = timer.sleep_until(timer.now() + Duration::from_secs(10));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(next.as_mut().poll(&mut cx).is_pending());
        tokio::time::advance(Duration::from_secs(30)).await;
        timer.reads.fetch_add(1, Ordering::Relaxed);
        assert!(next.as_mut().poll(&mut cx).is_pending());
        next.await;
        assert_eq!(start.elapsed(), Duration::from_secs(40));
    }
}
