//! `/v1/persons`: JSON in, controller call, JSON out.
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::error::ApiError;
use crate::api::extract::{Json, Path, Query, RequestId};
use crate::api::pagination::{PageBody, PageQuery};
use crate::app::AppState;
use crate::controllers::persons::{self as controller, PersonChanges, PersonInput};
use crate::models::person;

const COLLECTION: &str = "/v1/persons";

/// A person as v1 shows it.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    pub name: String,
    pub age: i32,
}

/// The body of `PATCH`: any of the fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    pub name: Option<String>,
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
pub async fn list_people(
    state: State<AppState>,
    query: Query<PageQuery>,
) -> ApiResult<axum::Json<PageBody<PersonBody>>> {
    list(state, query).await
}

/// `POST /v1/persons`: 201 with the person and its `Location`.
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
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PersonBody>> {
    let person = controller::get(&state.db, id).await?;
    Ok(axum::Json(person.into()))
}

/// `PUT /v1/persons/{id}`: replaces every field.
pub async fn replace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<NewPerson>,
) -> ApiResult<axum::Json<PersonBody>> {
    let person = controller::replace(&state.db, id, body.into()).await?;
    Ok(axum::Json(person.into()))
}

/// `PATCH /v1/persons/{id}`: changes the fields given.
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
pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    controller::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/persons/{id}/birthday`: schedules a task adding a year to the person's age;
/// 202 with the task, whose progress is at `Location`.
pub async fn birthday(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    RequestId(request_id): RequestId,
) -> ApiResult<Response> {
    let task = controller::schedule_birthday(&state.tasks, id, request_id).await?;
    Ok(super::tasks::accepted(task))
}
