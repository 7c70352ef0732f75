//! `/v1/tasks`: the progress of background tasks.
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::api::AppState;
use crate::api::error::{ApiResult, IdErrors, ServerErrors};
use crate::api::extract::Path;
use crate::controllers::tasks as controller;
use crate::models::task::{self, State as TaskState};

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
    pub last_error: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    pub chain_id: Option<Uuid>,
    pub chain_position: Option<i32>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
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
            last_error: task.last_error,
            result: task.result,
            chain_id: task.chain_id,
            chain_position: task.chain_position,
            request_id: task.request_id,
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
