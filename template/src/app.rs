//! The service as a value: state, router and middleware, bound and ready to run.
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::http::{Request as HttpRequest, Response as HttpResponse};
use tokio::net::TcpListener;
use tower::{Service, ServiceBuilder};
use tower_http::ServiceBuilderExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api::{self, AppState};
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::queue::QueueError;
use crate::{db, metrics, server, tasks, telemetry};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot connect to the database: {0}")]
    Database(#[source] sea_orm::DbErr),
    #[error("cannot apply migrations: {0}")]
    Migrations(#[source] sea_orm::DbErr),
    #[error("cannot set up the task queue: {0}")]
    Queue(#[source] QueueError),
    #[error("cannot listen on {0}: {1}")]
    Bind(String, #[source] std::io::Error),
    #[error("cannot set up identity checks: {0}")]
    Auth(String),
}

/// A bound, ready-to-run service.
pub struct App {
    listener: TcpListener,
    router: Router,
    limits: server::Limits,
    shutdown_timeout: Duration,
}

impl App {
    /// Connects to the database, applies migrations when configured to, and binds the
    /// listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        // Whether the database answers: one state for the pool, the API and the queue.
        let health = db::Health::default();
        let db = db::connect(&settings.database, &health)
            .await
            .map_err(StartError::Database)?;
        if settings.database.auto_migrate {
            db::upgrade_at_start(&db, &settings.database)
                .await
                .map_err(StartError::Migrations)?;
        }
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|e| StartError::Bind(address, e))?;
        let shutdown_timeout = Duration::from_secs(settings.server.shutdown_timeout_secs);
        let limits = server::Limits::from(&settings.server);
        let tasks = tasks::queue(db.clone(), &health, &settings).map_err(StartError::Queue)?;
        let auth = Authenticator::start(&settings.auth, db.clone()).map_err(StartError::Auth)?;
        let state = AppState {
            db,
            database: health,
            tasks,
            settings: Arc::new(settings),
            auth,
        };
        Ok(Self {
            listener,
            router: router(state),
            limits,
            shutdown_timeout,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish (for at most
    /// the configured shutdown time).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tracing::info!(address = %self.local_addr(), "serving");
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutting down, waiting for in-flight requests");
            let _ = stopping.send(());
        };
        let server = server::serve(self.listener, self.router, self.limits, signal);
        let deadline = async move {
            match stopped.await {
                Ok(()) => tokio::time::sleep(self.shutdown_timeout).await,
                // The server ended on its own: let it report.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = server => Ok(()),
            () = deadline => {
                tracing::warn!("in-flight requests still running at the shutdown deadline");
                Ok(())
            }
        }
    }
}

/// The full router: routes plus the middleware every request goes through.
pub fn router(state: AppState) -> Router {
    let server = &state.settings.server;
    let timeout = Duration::from_secs(server.request_timeout_secs);
    let body_limit = server.body_limit_bytes;
    let middleware = ServiceBuilder::new()
        .layer(tower::layer::layer_fn(CountRequests))
        .layer(tower::layer::layer_fn(api::request_id::SetRequestId))
        .propagate_x_request_id()
        .layer(
            TraceLayer::new_for_http()
                // With tracing on: the caller's traceparent continued, the status recorded.
                .make_span_with(telemetry::trace::http::Continued(request_span))
                .on_response(telemetry::trace::http::RecordStatus(
                    DefaultOnResponse::new().level(Level::INFO),
                ))
                // A 5xx is logged (and reported) once, where it is made: see api::error.
                .on_failure(()),
        )
        .layer(axum::middleware::map_response(
            api::error::json_error_bodies,
        ))
        // Shed requests get the JSON body, the request id, the log line and the count.
        .layer(api::shed::ShedLayer::new(server.max_in_flight))
        // Outside the timeout: the drain has bounds of its own.
        .layer(api::drain::DrainLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(api::error::panic_response))
        .layer(DefaultBodyLimit::max(body_limit));
    api::router(state).layer(middleware)
}

/// The span around each request; its fields, the request id first, go on every log line.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(metrics::UNMATCHED, MatchedPath::as_str);
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        uri = %request.uri(),
        route,
        // Who called, once the credentials are checked (api::auth).
        caller = tracing::field::Empty,
    )
}

/// Counts each request in the metrics by its route template and final status: a layer
/// of its own rather than `from_fn`, which clones and boxes the whole stack below it on
/// every request.
#[derive(Clone)]
struct CountRequests<S>(S);

impl<S, B, R> Service<HttpRequest<B>> for CountRequests<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Send + 'static,
{
    type Response = HttpResponse<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        let started = Instant::now();
        let method = request.method().clone();
        let route = request.extensions().get::<MatchedPath>().cloned();
        let response = self.0.call(request);
        Box::pin(async move {
            let response = response.await?;
            metrics::global().http(
                &method,
                route.as_ref().map(MatchedPath::as_str),
                response.status().as_u16(),
                started.elapsed(),
            );
            Ok(response)
        })
    }
}
