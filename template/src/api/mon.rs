//! Monitoring routes for load balancers and orchestrators.
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;
use crate::tasks::Queue;

/// How long `/metrics` waits for the queue's depth before leaving it out.
const DEPTH_TIMEOUT: Duration = Duration::from_millis(500);

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ping", get(ping))
        .route("/ready", get(ready))
}

/// Liveness: answers as long as the process serves HTTP, touching nothing else.
async fn ping() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Readiness: the database, and Redis when tasks go through it, answer. A 503 names what
/// does not (`{"status": "unavailable", "checks": {"database": "...", "redis": "ok"}}`).
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = match state.db.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(error) => {
            tracing::warn!(%error, "readiness: database unavailable");
            "unavailable".to_owned()
        }
    };
    let mut checks = json!({ "database": database });
    if let Some(queue) = state.tasks.queue() {
        checks["redis"] = match queue.ping().await {
            Ok(()) => "ok".into(),
            Err(error) => {
                tracing::warn!(%error, "readiness: Redis unavailable");
                "unavailable".into()
            }
        };
    }
    let ready = checks
        .as_object()
        .is_some_and(|checks| checks.values().all(|v| v == "ok"));
    let (status, word) = if ready {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (status, Json(json!({"status": word, "checks": checks})))
}

/// Prometheus metrics of this process (see [`crate::metrics`]).
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    exposition(state.tasks.queue()).await
}

/// The metrics, with the queue's depth when there is a queue and it answers in time.
async fn exposition(queue: Option<&Queue>) -> impl IntoResponse + use<> {
    let depth = match queue {
        Some(queue) => match tokio::time::timeout(DEPTH_TIMEOUT, queue.depth()).await {
            Ok(Ok(depth)) => Some(depth),
            Ok(Err(error)) => {
                tracing::warn!(%error, "metrics: cannot read the queue's depth");
                None
            }
            Err(_) => None,
        },
        None => None,
    };
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::global().render(depth),
    )
}

/// What `worker` and `beat` serve on `metrics.listen`: `/metrics` and `/mon/ping`.
pub fn process_router(queue: Option<Queue>) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let queue = queue.clone();
                async move { exposition(queue.as_ref()).await }
            }),
        )
        .route("/mon/ping", get(ping))
}
