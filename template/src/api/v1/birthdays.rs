//! `POST /v1/persons/{id}/birthday`: a person's birthday, run as a background task.
use axum::extract::State;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tasks::{TaskBody, accepted};
use crate::api::AppState;
use crate::api::auth::RequestOrigin;
use crate::api::error::{ApiResult, IdErrors, ServerErrors};
use crate::api::extract::Path;
use crate::tasks::persons::schedule_birthday;

/// The route, with its documentation.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(birthday))
}

/// Schedule a person's birthday
///
/// A task adds a year to the person's age; the answer is the task, whose progress is at
/// `Location`.
#[utoipa::path(post, path = "/persons/{id}/birthday", tag = "persons", params(("id" = i64, Path)),
    security(("bearer" = ["persons:write"])),
    responses(
        (status = 202, description = "Scheduled; `Location` is the task", body = TaskBody),
        IdErrors, ServerErrors,
    ))]
pub async fn birthday(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    RequestOrigin(origin): RequestOrigin,
) -> ApiResult<Response> {
    let task = schedule_birthday(&state.tasks, id, origin).await?;
    Ok(accepted(task))
}
