//! Monitoring routes for load balancers and orchestrators.
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;

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
