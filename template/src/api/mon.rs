//! Monitoring routes for load balancers, orchestrators and Prometheus: the API's, and the
//! same routes on `metrics.listen` for `worker` and `beat`, which have no API.
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::AppState;
use crate::api::middleware::shed::ShedLayer;
use crate::queue::Broker;

/// How long `/metrics` waits for the queue's depth before leaving it out.
const DEPTH_TIMEOUT: Duration = Duration::from_millis(500);

/// `/ping` and `/ready`, nested under the API's `/mon` (`/metrics` is beside it).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ping))
        .routes(routes!(ready))
}

/// For processes without an API (`worker`, `beat`): `/metrics` and `/mon/ping` as the API
/// serves them, behind the same bound on requests in flight (`/mon/ping` never shed).
pub fn standalone(broker: Broker, max_in_flight: usize) -> Router {
    let (router, _) = OpenApiRouter::new()
        .routes(routes!(metrics))
        .nest("/mon", OpenApiRouter::new().routes(routes!(ping)))
        .split_for_parts();
    router
        .layer(ShedLayer::new(max_in_flight))
        .with_state(Depth(Some(broker)))
}

/// Where `/metrics` reads the queue's depth: the queue's Redis, when tasks go through it.
#[derive(Clone)]
pub struct Depth(Option<Broker>);

impl FromRef<AppState> for Depth {
    fn from_ref(state: &AppState) -> Self {
        Self(state.tasks.broker().cloned())
    }
}

/// `{"status": "ok"}`, or for readiness `{"status": "unavailable", "checks": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    status: &'static str,
    /// Each dependency checked: `ok` or `unavailable`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, example = json!({"database": "ok", "redis": "ok"}))]
    checks: Option<Value>,
}

/// Check that the process is alive
///
/// Liveness: answers as long as the process serves HTTP, touching nothing else.
#[utoipa::path(get, path = "/ping", tag = "monitoring", security(()),
    responses((status = 200, description = "The process serves HTTP", body = Health)))]
pub async fn ping() -> Json<Health> {
    Json(Health {
        status: "ok",
        checks: None,
    })
}

/// Check that the dependencies answer
///
/// Readiness: the database, and Redis when tasks go through it, answer. A 503 names what
/// does not (`{"status": "unavailable", "checks": {"database": "...", "redis": "ok"}}`).
#[utoipa::path(get, path = "/ready", tag = "monitoring", security(()),
    responses(
        (status = 200, description = "Every dependency answers", body = Health),
        (status = 503, description = "A dependency does not; `checks` names it", body = Health),
    ))]
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let database = match state.db.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(error) => {
            state.health.connection_broke();
            tracing::warn!(%error, "readiness: database unavailable");
            "unavailable".to_owned()
        }
    };
    let mut checks = json!({ "database": database });
    if let Some(broker) = state.tasks.broker() {
        checks["redis"] = match broker.ping().await {
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
    let health = Health {
        status: word,
        checks: Some(checks),
    };
    (status, Json(health))
}

/// Read the process's metrics
///
/// Prometheus metrics of this process: requests, latency, tasks, queue depth.
#[utoipa::path(get, path = "/metrics", tag = "monitoring",
    security(("bearer" = ["metrics:read"])),
    responses((status = 200, description = "Prometheus text format 0.0.4",
        content_type = "text/plain", body = String)))]
pub async fn metrics(State(Depth(broker)): State<Depth>) -> impl IntoResponse {
    let depth = match &broker {
        Some(broker) => match tokio::time::timeout(DEPTH_TIMEOUT, broker.depth()).await {
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
