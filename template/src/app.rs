//! The service as a value: state, router and middleware, bound and ready to run.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::ServiceBuilderExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::MakeRequestUuid;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::queue::{Queue, QueueError};
use crate::{db, metrics, tasks};

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
}

/// A bound, ready-to-run service.
pub struct App {
    listener: TcpListener,
    router: Router,
    shutdown_timeout: Duration,
}

impl App {
    /// Connects to the database, applies migrations when configured to, and binds the
    /// listener (port 0 picks a free port).
    pub async fn build(settings: Settings) -> Result<Self, StartError> {
        let db = db::connect(&settings.database)
            .await
            .map_err(StartError::Database)?;
        if settings.database.auto_migrate {
            db::upgrade(&db, None)
                .await
                .map_err(StartError::Migrations)?;
        }
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|e| StartError::Bind(address, e))?;
        let shutdown_timeout = Duration::from_secs(settings.server.shutdown_timeout_secs);
        let tasks = Queue::new(
            db.clone(),
            &settings.redis,
            &settings.tasks,
            tasks::registry(),
        )
        .map_err(StartError::Queue)?;
        let state = AppState {
            db,
            database: db::Availability::default(),
            tasks,
            settings: Arc::new(settings),
        };
        Ok(Self {
            listener,
            router: router(state),
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
        let server = axum::serve(self.listener, self.router).with_graceful_shutdown(signal);
        let deadline = async move {
            match stopped.await {
                Ok(()) => tokio::time::sleep(self.shutdown_timeout).await,
                // The server ended on its own: let it report.
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            result = server.into_future() => result,
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
        .layer(axum::middleware::from_fn(count_request))
        .set_x_request_id(MakeRequestUuid)
        .propagate_x_request_id()
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO))
                // A 5xx is logged (and reported) once, where it is made: see api::error.
                .on_failure(()),
        )
        .layer(axum::middleware::map_response(
            api::error::json_error_bodies,
        ))
        // Outside the timeout: the drain has bounds of its own.
        .layer(axum::middleware::from_fn(api::drain::drain_unread_body))
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
    )
}

/// Counts each request in the metrics by its route template and final status.
async fn count_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics::global().http(
        &method,
        route.as_ref().map(MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}
