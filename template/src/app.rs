//! The service as a value: state, router and middleware, bound and ready to run.
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::ServiceBuilderExt;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::api::middleware::{count, drain, request_id, shed, span};
use crate::api::{self, AppState, Services};
use crate::auth::Authenticator;
use crate::config::Settings;
use crate::queue::QueueError;
use crate::{db, server, tasks, telemetry};

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
    /// Writes the API keys' last use once more after the last request.
    auth: Authenticator,
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
        let state = AppState::new(Services {
            db,
            health,
            tasks,
            settings: Arc::new(settings),
            auth: auth.clone(),
        });
        Ok(Self {
            listener,
            router: router(state),
            limits,
            shutdown_timeout,
            auth,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish (for at most
    /// the configured shutdown time) and writes the API keys' last use.
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
            () = server => {}
            () = deadline => {
                tracing::warn!("in-flight requests still running at the shutdown deadline");
            }
        }
        // Uses noted since the last periodic write would be lost otherwise.
        self.auth.flush().await;
        Ok(())
    }
}

/// The full router: routes plus the middleware every request goes through.
pub fn router(state: AppState) -> Router {
    let server = &state.settings.server;
    let timeout = Duration::from_secs(server.request_timeout_secs);
    let body_limit = server.body_limit_bytes;
    let middleware = ServiceBuilder::new()
        .layer(tower::layer::layer_fn(count::CountRequests))
        .layer(tower::layer::layer_fn(request_id::SetRequestId))
        .propagate_x_request_id()
        .layer(
            TraceLayer::new_for_http()
                // With tracing on: the caller's traceparent continued, the status recorded.
                .make_span_with(telemetry::trace::http::Continued(span::request_span))
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
        .layer(shed::ShedLayer::new(server.max_in_flight))
        // Outside the timeout: the drain has bounds of its own.
        .layer(drain::DrainLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(CatchPanicLayer::custom(api::error::panic_response))
        .layer(DefaultBodyLimit::max(body_limit));
    api::router(state).layer(middleware)
}
