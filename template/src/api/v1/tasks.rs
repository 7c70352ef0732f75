//! `/v1/tasks`: the progress of background tasks.
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::auth::RequestOrigin;
use crate::api::error::{ApiError, ApiResult, BodyErrors, IdErrors, ServerErrors};
use crate::api::extract::{Json, Path};
use crate::api::fields;
use crate::controllers::tasks as controller;
use crate::models::task::{self, ErrorCode, State as TaskState};
use crate::tasks::maintenance::schedule_purge;

/// The routes, with their documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get))
        .routes(routes!(purge))
}

/// A task as v1 shows it: what it runs and where it is in its life.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskBody {
    pub id: Uuid,
    pub name: String,
    pub state: TaskState,
    #[schema(value_type = Object)]
    pub arguments: serde_json::Value,
    pub attempts: i32,
    pub max_retries: i32,
    /// Why the last attempt failed (the cause is in the service's logs, never here).
    pub last_error: Option<TaskError>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub chain_id: Option<Uuid>,
    pub chain_position: Option<i32>,
    pub request_id: Option<String>,
    /// Who scheduled it: `key:NAME` (an API key), `sub:SUBJECT` (a token), `beat`.
    pub caller: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Why a task's last attempt failed: a stable code, and what it means.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TaskError {
    pub code: ErrorCode,
    pub message: &'static str,
}

impl From<task::Model> for TaskBody {
    fn from(task: task::Model) -> Self {
        Self {
            id: task.id,
            name: task.name,
            state: task.state,
            arguments: task.arguments,
            attempts: task.attempts,
            max_retries: task.max_retries,
            last_error: task.last_error.map(|stored| {
                let code = ErrorCode::of_stored(&stored, task.state);
                TaskError {
                    code,
                    message: code.message(),
                }
            }),
            result: task.result,
            chain_id: task.chain_id,
            chain_position: task.chain_position,
            request_id: task.request_id,
            caller: task.caller,
            created_at: task.created_at,
            updated_at: task.updated_at,
            started_at: task.started_at,
            finished_at: task.finished_at,
        }
    }
}

/// Follow a task
///
/// Its state, attempts, last error and result.
#[utoipa::path(get, path = "/tasks/{id}", tag = "tasks", params(("id" = Uuid, Path)),
    security(("bearer" = ["tasks:read"])),
    responses(
        (status = 200, description = "The task", body = TaskBody),
        IdErrors, ServerErrors,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<TaskBody>> {
    let task = controller::get(&state.db, id).await?;
    Ok(axum::Json(task.into()))
}

/// The body of `POST /v1/tasks/purge`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"older_than_days": 30}))]
pub struct PurgeBody {
    /// Finished tasks older than this many days are deleted.
    #[schema(schema_with = fields::integer::<0, 65535>)]
    #[serde(deserialize_with = "fields::whole::i32")]
    pub older_than_days: i32,
}

/// Delete old finished tasks
///
/// Schedules `tasks.purge_finished` now, as beat does nightly; the answer is that task.
#[utoipa::path(post, path = "/tasks/purge", tag = "tasks", request_body = PurgeBody,
    security(("bearer" = ["tasks:admin"])),
    responses(
        (status = 202, description = "Scheduled; `Location` is the task", body = TaskBody),
        BodyErrors, ServerErrors,
    ))]
pub async fn purge(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    Json(body): Json<PurgeBody>,
) -> ApiResult<Response> {
    let days = u16::try_from(body.older_than_days).map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "older_than_days must be a whole number from 0 to 65535",
        )
    })?;
    let task = schedule_purge(&state.tasks, days.into(), origin).await?;
    Ok(accepted(task))
}

/// The answer to a request that scheduled a task: 202, the task, and where to follow it.
pub fn accepted(task: task::Model) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::try_from(format!("/v1/tasks/{}", task.id)) {
        headers.insert(header::LOCATION, location);
    }
    (
        StatusCode::ACCEPTED,
        headers,
        axum::Json(TaskBody::from(task)),
    )
        .into_response()
}
