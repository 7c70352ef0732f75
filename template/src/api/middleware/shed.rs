//! Load shedding: at most `server.max_in_flight` requests are handled at once; one more
//! is answered 503 with `Retry-After` at once, instead of waiting in a queue that grows
//! while every request in it gets slower. `/mon/ping` is never shed: an orchestrator
//! would take an overloaded process for a dead one and restart it.
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::api::error::ApiError;

/// The route that is never shed.
const LIVENESS: &str = "/mon/ping";

/// Counts the requests in flight across every route it wraps.
#[derive(Clone)]
pub struct ShedLayer(Arc<Limit>);

struct Limit {
    in_flight: AtomicUsize,
    max: usize,
}

impl ShedLayer {
    /// At most `max` requests in flight.
    pub fn new(max: usize) -> Self {
        Self(Arc::new(Limit {
            in_flight: AtomicUsize::new(0),
            max,
        }))
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            limit: self.0.clone(),
        }
    }
}

/// One route (or router) behind the limit.
#[derive(Clone)]
pub struct Shed<S> {
    inner: S,
    limit: Arc<Limit>,
}

impl<S> Service<Request> for Shed<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Shedding<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let liveness = request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|route| route.as_str() == LIVENESS);
        if liveness {
            return Shedding::Counted {
                future: self.inner.call(request),
                slot: None,
            };
        }
        let before = self.limit.in_flight.fetch_add(1, Ordering::Relaxed);
        let slot = Slot(self.limit.clone());
        if before >= self.limit.max {
            drop(slot);
            return Shedding::Shed {
                response: Some(overloaded()),
            };
        }
        Shedding::Counted {
            future: self.inner.call(request),
            slot: Some(slot),
        }
    }
}

/// The 503 of a request over the limit.
fn overloaded() -> Response {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the service is overloaded; try again later",
    )
    .with_code("overloaded")
    .into_response()
}

/// A place among the requests in flight, given back when dropped.
struct Slot(Arc<Limit>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// The answer of [`Shed`]: the route's, holding its place until it is ready, or the
    /// 503 at once. (No box per request.)
    #[project = Projection]
    pub enum Shedding<F> {
        Counted { #[pin] future: F, slot: Option<Slot> },
        Shed { response: Option<Response> },
    }
}

impl<F, E> Future for Shedding<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projection::Counted { future, slot } => {
                let response = std::task::ready!(future.poll(cx));
                slot.take();
                Poll::Ready(response)
            }
            Projection::Shed { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use super::*;

    fn poll<F: Future>(future: Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn requests_over_the_limit_get_a_503_and_their_places_come_back() {
        let (release, wait) = tokio::sync::watch::channel(false);
        let slow = tower::service_fn(move |_: Request| {
            let mut wait = wait.clone();
            async move {
                let _ = wait.wait_for(|released| *released).await;
                Ok::<_, Infallible>(StatusCode::OK.into_response())
            }
        });
        let mut service = ShedLayer::new(2).layer(slow);

        let mut first = Box::pin(service.call(Request::new(Default::default())));
        let mut second = Box::pin(service.call(Request::new(Default::default())));
        assert!(poll(first.as_mut()).is_pending());
        assert!(poll(second.as_mut()).is_pending());
        let mut third = Box::pin(service.call(Request::new(Default::default())));
        match poll(third.as_mut()) {
            Poll::Ready(Ok(response)) => {
                assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
                assert!(response.headers().contains_key("retry-after"));
            }
            other => panic!("shed at once: {other:?}"),
        }

        let _ = release.send(true);
        assert!(matches!(poll(first.as_mut()), Poll::Ready(Ok(_))));
        drop(second);
        let mut fourth = Box::pin(service.call(Request::new(Default::default())));
        match poll(fourth.as_mut()) {
            Poll::Ready(Ok(response)) => assert_eq!(response.status(), StatusCode::OK),
            other => panic!("places given back: {other:?}"),
        }
    }
}
