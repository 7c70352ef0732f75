//! `/v1/persons`: JSON in, controller call, JSON out.
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{ApiError, ErrorBody};
use crate::api::extract::{Json, Path, Query, RequestId, whole};
use crate::api::pagination::{PageBody, PageQuery};
use crate::api::v1::tasks::TaskBody;
use crate::app::AppState;
use crate::controllers::persons::{self as controller, PersonChanges, PersonInput};
use crate::models::person;
use crate::tasks::persons::schedule_birthday;

const COLLECTION: &str = "/v1/persons";

/// A person as v1 shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PersonBody {
    pub id: i64,
    pub name: String,
    pub age: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<person::Model> for PersonBody {
    fn from(person: person::Model) -> Self {
        Self {
            id: person.id,
            name: person.name,
            age: person.age,
            created_at: person.created_at,
            updated_at: person.updated_at,
        }
    }
}

/// The body of `POST` and `PUT`: every field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// Up to 200 characters, not blank, no control characters; kept trimmed. (The
    /// pattern: one character that is not a space, and no control characters.)
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: String,
    #[schema(example = 36, minimum = 0, maximum = 150)]
    #[serde(deserialize_with = "whole::i32")]
    pub age: i32,
}

/// The body of `PATCH`: any of the fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    /// As in `NewPerson`.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    pub name: Option<String>,
    #[schema(minimum = 0, maximum = 150)]
    #[serde(default, deserialize_with = "whole::optional_i32")]
    pub age: Option<i32>,
}

impl From<NewPerson> for PersonInput {
    fn from(body: NewPerson) -> Self {
        Self {
            name: body.name,
            age: body.age,
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// `GET /v1/persons?page=&per_page=`
#[utoipa::path(get, path = "/persons", tag = "persons", params(PageQuery),
    responses(
        (status = 200, description = "A page of persons, oldest first", body = PageBody<PersonBody>),
        (status = 400, description = "Bad page or per_page", body = ErrorBody),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> ApiResult<axum::Json<PageBody<PersonBody>>> {
    let page = query.page(&state.settings.api)?;
    let paged = controller::list(&state.db, page).await?;
    Ok(axum::Json(PageBody::new(
        COLLECTION,
        paged,
        PersonBody::from,
    )))
}

/// `GET /v1/people`: the old name of `GET /v1/persons`, deprecated.
#[utoipa::path(get, path = "/people", tag = "persons", params(PageQuery),
    responses(
        (status = 200, description = "As `GET /v1/persons`, with deprecation headers", body = PageBody<PersonBody>),
        (status = 400, description = "Bad page or per_page", body = ErrorBody),
    ))]
#[deprecated = "use GET /v1/persons"]
pub async fn list_people(
    state: State<AppState>,
    query: Query<PageQuery>,
) -> ApiResult<axum::Json<PageBody<PersonBody>>> {
    list(state, query).await
}

/// `POST /v1/persons`: 201 with the person and its `Location`.
#[utoipa::path(post, path = "/persons", tag = "persons", request_body = NewPerson,
    responses(
        (status = 201, description = "Created; `Location` names it", body = PersonBody),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid values", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewPerson>,
) -> ApiResult<impl IntoResponse> {
    let person = controller::create(&state.db, body.into()).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::try_from(format!("{COLLECTION}/{}", person.id)) {
        headers.insert(header::LOCATION, location);
    }
    Ok((
        StatusCode::CREATED,
        headers,
        axum::Json(PersonBody::from(person)),
    ))
}

/// `GET /v1/persons/{id}`
#[utoipa::path(get, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The person", body = PersonBody),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PersonBody>> {
    let person = controller::get(&state.db, id).await?;
    Ok(axum::Json(person.into()))
}

/// `PUT /v1/persons/{id}`: replaces every field.
#[utoipa::path(put, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    request_body = NewPerson,
    responses(
        (status = 200, description = "The person as replaced", body = PersonBody),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid values", body = ErrorBody),
    ))]
pub async fn replace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<NewPerson>,
) -> ApiResult<axum::Json<PersonBody>> {
    let person = controller::replace(&state.db, id, body.into()).await?;
    Ok(axum::Json(person.into()))
}

/// `PATCH /v1/persons/{id}`: changes the fields given.
#[utoipa::path(patch, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    request_body = PersonPatch,
    responses(
        (status = 200, description = "The person as changed", body = PersonBody),
        (status = 400, description = "Malformed JSON or id", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Invalid values", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<PersonPatch>,
) -> ApiResult<axum::Json<PersonBody>> {
    let changes = PersonChanges {
        name: body.name,
        age: body.age,
    };
    let person = controller::update(&state.db, id, changes).await?;
    Ok(axum::Json(person.into()))
}

/// `DELETE /v1/persons/{id}`: 204.
#[utoipa::path(delete, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    ))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    controller::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/persons/{id}/birthday`: schedules a task adding a year to the person's age;
/// 202 with the task, whose progress is at `Location`.
#[utoipa::path(post, path = "/persons/{id}/birthday", tag = "persons", params(("id" = i64, Path)),
    responses(
        (status = 202, description = "Scheduled; `Location` is the task", body = TaskBody),
        (status = 400, description = "The id is not a number", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
        (status = 503, description = "The task queue is unreachable", body = ErrorBody),
    ))]
pub async fn birthday(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    RequestId(request_id): RequestId,
) -> ApiResult<Response> {
    let task = schedule_birthday(&state.tasks, id, request_id).await?;
    Ok(super::tasks::accepted(task))
}
