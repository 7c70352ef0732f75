//! Unread request bodies, drained before an error is answered: a client that writes its
//! whole body before reading (Python's urllib and requests, many scripts) would otherwise
//! get a connection reset instead of the 413 (or 415, 404 ...) the service answered.
//!
//! Only bodies that are plausibly honest are drained: a declared `Content-Length` of at
//! most [`DRAIN_FACTOR`] times `server.body_limit_bytes` (a chunked body, up to as much),
//! for at most [`DRAIN_MAX_TIME`]. A larger body is not read at all: the answer says
//! `Connection: close` and the connection is closed once it is written, so a client cannot
//! make the service read (and spend time on) what it chooses.
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::BoxError;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Response as HttpResponse, StatusCode, header};
use axum::response::Response;
use http_body::{Frame, SizeHint};
use tower::{Layer, Service};

/// A refused body is drained when it is at most this many times the body limit.
pub const DRAIN_FACTOR: u64 = 4;
/// And for at most this long.
pub const DRAIN_MAX_TIME: Duration = Duration::from_secs(2);

/// Drains what is left of refused bodies of up to [`DRAIN_FACTOR`] times `body_limit`
/// bytes (see [`DrainUnreadBody`]).
#[derive(Clone, Copy)]
pub struct DrainLayer {
    max_bytes: u64,
}

impl DrainLayer {
    /// For bodies limited to `body_limit` bytes (`server.body_limit_bytes`).
    pub fn new(body_limit: usize) -> Self {
        Self {
            max_bytes: (body_limit as u64).saturating_mul(DRAIN_FACTOR),
        }
    }
}

impl<S> Layer<S> for DrainLayer {
    type Service = DrainUnreadBody<S>;

    fn layer(&self, inner: S) -> DrainUnreadBody<S> {
        DrainUnreadBody {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// Reads what the handler left of the body of a request it refused (a 4xx but a 408), if
/// the body is plausibly honest (see the module), before answering; otherwise the answer
/// closes the connection. A client that asked `Expect: 100-continue` and was refused
/// before its body was read has sent none: it is told the status without being invited to
/// send it.
///
/// A layer of its own rather than `from_fn`, which clones and boxes the whole stack below
/// it on every request; a request without a body (most GETs) goes straight through.
#[derive(Clone)]
pub struct DrainUnreadBody<S> {
    inner: S,
    max_bytes: u64,
}

impl<S, B> Service<Request> for DrainUnreadBody<S>
where
    S: Service<Request, Response = HttpResponse<B>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if request.body().is_end_stream() {
            // No body: nothing to share.
            let response = self.inner.call(request);
            return Box::pin(async move { Ok(response.await?.map(Body::new)) });
        }
        let (parts, body) = request.into_parts();
        let waits_to_send = parts
            .headers
            .get(header::EXPECT)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
        // hyper gives the declared length as the body's exact size.
        let declared = body.size_hint().exact();
        let max_bytes = self.max_bytes;
        let shared = Shared::new(body);
        let response = self
            .inner
            .call(Request::from_parts(parts, Body::new(shared.clone())));
        Box::pin(async move {
            let mut response = response.await?.map(Body::new);
            // Unread and never invited: the client sends nothing more.
            let invited = !waits_to_send || shared.was_read();
            // A 408 went out because the body was too slow to come: not waited for any longer.
            let status = response.status();
            if status.is_client_error() && status != StatusCode::REQUEST_TIMEOUT && invited {
                let honest = declared.is_none_or(|length| length <= max_bytes);
                if !(honest && shared.drain(max_bytes).await) {
                    // The rest of the body stays unread: say that the connection ends here.
                    response
                        .headers_mut()
                        .insert(header::CONNECTION, HeaderValue::from_static("close"));
                }
            }
            Ok(response)
        })
    }
}

/// The request body, shared: the handler reads it as usual, and what it leaves unread can
/// still be drained once it has answered.
#[derive(Clone)]
struct Shared {
    body: Arc<Mutex<Body>>,
    read: Arc<AtomicBool>,
}

impl Shared {
    fn new(body: Body) -> Self {
        Self {
            body: Arc::new(Mutex::new(body)),
            read: Arc::new(AtomicBool::new(false)),
        }
    }

    fn was_read(&self) -> bool {
        self.read.load(Ordering::Relaxed)
    }

    /// Reads the rest of the body, up to `max_bytes` and [`DRAIN_MAX_TIME`]; whether it
    /// came to its end.
    async fn drain(&self, max_bytes: u64) -> bool {
        let Ok(mut body) = self.body.lock().map(|mut body| std::mem::take(&mut *body)) else {
            return false;
        };
        let mut left = max_bytes;
        let drained = tokio::time::timeout(DRAIN_MAX_TIME, async {
            while !body.is_end_stream() {
                let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
                let Some(Ok(frame)) = frame else {
                    return true;
                };
                let length = frame.data_ref().map_or(0, |data| data.len() as u64);
                let Some(rest) = left.checked_sub(length) else {
                    return false;
                };
                left = rest;
            }
            true
        })
        .await;
        if drained != Ok(true) {
            // The connection closes with the body unread; the client may see a reset.
            tracing::debug!(
                drained_bytes = max_bytes - left,
                "request body too long to drain before answering"
            );
        }
        drained == Ok(true)
    }
}

impl HttpBody for Shared {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        self.read.store(true, Ordering::Relaxed);
        match self.body.lock() {
            Ok(mut body) => Pin::new(&mut *body).poll_frame(cx),
            Err(_) => Poll::Ready(Some(Err(axum::Error::new("request body lock poisoned")))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.lock().map_or(true, |body| body.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.body
            .lock()
            .map_or_else(|_| SizeHint::default(), |body| body.size_hint())
    }
}
