//! Monitoring routes for load balancers and orchestrators.
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/ping", get(ping))
}

/// Liveness: answers as long as the process serves HTTP, touching nothing else.
async fn ping() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
