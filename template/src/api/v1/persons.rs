//! `/v1/persons`: JSON in, controller call, JSON out.
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::AppState;
use crate::api::error::{ApiResult, BodyErrors, IdErrors, QueryErrors, ServerErrors};
use crate::api::extract::{Json, Path, Query, RequestId};
use crate::api::fields;
use crate::api::pagination::{PageBody, PageQuery};
use crate::api::v1::tasks::TaskBody;
use crate::controllers::persons::{
    self as controller, AGE_MAX, AGE_MIN, NAME_MAX_CHARS, PersonChanges, PersonInput,
};
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
#[schema(example = json!({"name": "Ada Lovelace", "age": 36}))]
pub struct NewPerson {
    #[schema(schema_with = fields::text::<NAME_MAX_CHARS>)]
    pub name: String,
    #[schema(schema_with = fields::integer::<AGE_MIN, AGE_MAX>)]
    #[serde(deserialize_with = "fields::whole::i32")]
    pub age: i32,
}

/// The body of `PATCH`: any of the fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"age": 37}))]
pub struct PersonPatch {
    #[schema(schema_with = fields::optional_text::<NAME_MAX_CHARS>)]
    pub name: Option<String>,
    #[schema(schema_with = fields::optional_integer::<AGE_MIN, AGE_MAX>)]
    #[serde(default, deserialize_with = "fields::whole::optional_i32")]
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

impl From<PersonPatch> for PersonChanges {
    fn from(body: PersonPatch) -> Self {
        Self {
            name: body.name,
            age: body.age,
        }
    }
}

/// List persons, oldest first
///
/// One page at a time; `next` and `prev` link to the neighbour pages.
#[utoipa::path(get, path = "/persons", tag = "persons", params(PageQuery),
    responses(
        (status = 200, description = "A page of persons", body = PageBody<PersonBody>),
        QueryErrors, ServerErrors,
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

/// List persons, under the route's old name
///
/// As `GET /v1/persons`, with headers that say when this route goes away.
#[utoipa::path(get, path = "/people", tag = "persons", params(PageQuery),
    responses(
        (status = 200, description = "A page of persons", body = PageBody<PersonBody>),
        QueryErrors, ServerErrors,
    ))]
#[deprecated = "use GET /v1/persons"]
pub async fn list_people(
    state: State<AppState>,
    query: Query<PageQuery>,
) -> ApiResult<axum::Json<PageBody<PersonBody>>> {
    list(state, query).await
}

/// Create a person
#[utoipa::path(post, path = "/persons", tag = "persons", request_body = NewPerson,
    responses(
        (status = 201, description = "Created; `Location` names it", body = PersonBody),
        BodyErrors, ServerErrors,
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewPerson>,
) -> ApiResult<impl IntoResponse> {
    let person = controller::create(&state.db, body.into()).await?;
    let location = format!("{COLLECTION}/{}", person.id);
    let body = axum::Json(PersonBody::from(person));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], body))
}

/// Read a person
#[utoipa::path(get, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    responses(
        (status = 200, description = "The person", body = PersonBody),
        IdErrors, ServerErrors,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PersonBody>> {
    let person = controller::get(&state.db, id).await?;
    Ok(axum::Json(person.into()))
}

/// Replace a person
///
/// Sets every field.
#[utoipa::path(put, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    request_body = NewPerson,
    responses(
        (status = 200, description = "The person as replaced", body = PersonBody),
        IdErrors, BodyErrors, ServerErrors,
    ))]
pub async fn replace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<NewPerson>,
) -> ApiResult<axum::Json<PersonBody>> {
    let person = controller::replace(&state.db, id, body.into()).await?;
    Ok(axum::Json(person.into()))
}

/// Change some fields of a person
///
/// Sets the fields given and keeps the others.
#[utoipa::path(patch, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    request_body = PersonPatch,
    responses(
        (status = 200, description = "The person as changed", body = PersonBody),
        IdErrors, BodyErrors, ServerErrors,
    ))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<PersonPatch>,
) -> ApiResult<axum::Json<PersonBody>> {
    let person = controller::update(&state.db, id, body.into()).await?;
    Ok(axum::Json(person.into()))
}

/// Delete a person
#[utoipa::path(delete, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    responses(
        (status = 204, description = "Deleted"),
        IdErrors, ServerErrors,
    ))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    controller::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Schedule a person's birthday
///
/// A task adds a year to the person's age; the answer is the task, whose progress is at
/// `Location`.
#[utoipa::path(post, path = "/persons/{id}/birthday", tag = "persons", params(("id" = i64, Path)),
    responses(
        (status = 202, description = "Scheduled; `Location` is the task", body = TaskBody),
        IdErrors, ServerErrors,
    ))]
pub async fn birthday(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    RequestId(request_id): RequestId,
) -> ApiResult<Response> {
    let task = schedule_birthday(&state.tasks, id, request_id).await?;
    Ok(super::tasks::accepted(task))
}
