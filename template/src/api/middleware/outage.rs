//! The database's outages as requests see them: while it is known to be away, the API's
//! routes answer 503 at once, with `Retry-After`, instead of each waiting the pool's
//! connect timeout (see [`crate::db::Health`]). The one place where the API takes note
//! of the database's outages: from the answers of the requests that met one.
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;
use tower::{Layer, Service};

use crate::api::error::{ApiError, DatabaseAway, PoolExhausted};
use crate::db::Health;

/// Answers the API's routes with a 503 while the database is known to be away, and notes
/// an outage when a request finds it away (or waited in vain for a pooled connection while
/// the server cannot be reached either). Monitoring (`/ready` checks for itself) and the
/// docs do not need the database and pass.
#[derive(Clone)]
pub struct GuardLayer(Arc<Watch>);

/// What the guard reads and reports to.
struct Watch {
    health: Health,
    db: DatabaseConnection,
}

impl GuardLayer {
    pub fn new(health: Health, db: DatabaseConnection) -> Self {
        Self(Arc::new(Watch { health, db }))
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            watch: self.0.clone(),
        }
    }
}

/// The guard around one route: a service of its own rather than `from_fn`, which clones
/// and boxes the route on every request.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    watch: Arc<Watch>,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let needs_database = request
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|route| is_api_version(route.as_str()));
        if needs_database && self.watch.health.is_down() {
            let response = ApiError::database_away("known to be away").into_response();
            return Box::pin(std::future::ready(Ok(response)));
        }
        let response = self.inner.call(request);
        let watch = self.watch.clone();
        Box::pin(async move {
            let response = response.await?;
            if let Some(DatabaseAway(cause)) = response.extensions().get::<DatabaseAway>() {
                watch.health.report_down(&watch.db, cause);
            } else if response.extensions().get::<PoolExhausted>().is_some() {
                // Answered once the check is done, so that the next request already
                // knows whether the database is away.
                watch.health.check(&watch.db).await;
            }
            Ok(response)
        })
    }
}

/// `/v1/...`, `/v2/...`: the routes of an API version.
fn is_api_version(route: &str) -> bool {
    route
        .strip_prefix("/v")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_versions_are_guarded_and_monitoring_and_docs_are_not() {
        for route in ["/v1/persons", "/v1/persons/{id}", "/v2/tasks/{id}"] {
            assert!(is_api_version(route), "{route}");
        }
        for route in ["/mon/ready", "/metrics", "/doc/openapi.json", "/video"] {
            assert!(!is_api_version(route), "{route}");
        }
    }
}
