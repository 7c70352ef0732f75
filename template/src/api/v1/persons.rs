//! `/v1/persons`: JSON in, controller call, JSON out (`cargo xtask new resource` wrote
//! this file; it is yours to change).
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::AppState;
use crate::api::error::{ApiResult, BodyErrors, ErrorBody, IdErrors, QueryErrors, ServerErrors};
use crate::api::extract::{Json, Path, Query};
use crate::api::fields;
use crate::api::pagination::{PageBody, PageQuery};
use crate::controllers::persons::{
    self as controller, AGE_MAX, AGE_MIN, NAME_MAX_CHARS, PersonChanges, PersonInput,
};
use crate::models::person;

/// Where persons are.
const COLLECTION: &str = "/v1/persons";

/// The routes of persons, each with its documentation: one line per route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(create))
        .routes(routes!(get))
        .routes(routes!(replace))
        .routes(routes!(update))
        .routes(routes!(delete))
}

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
    fn from(row: person::Model) -> Self {
        Self {
            id: row.id,
            name: row.name,
            age: row.age,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The body of `POST` and `PUT`: every field.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
pub struct PersonPatch {
    #[schema(schema_with = fields::optional_text::<NAME_MAX_CHARS>)]
    #[serde(default)]
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
    security(("bearer" = ["persons:read"])),
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

/// Create a person
#[utoipa::path(post, path = "/persons", tag = "persons", request_body = NewPerson,
    security(("bearer" = ["persons:write"])),
    responses(
        (status = 201, description = "Created; `Location` names it", body = PersonBody),
        BodyErrors, ServerErrors,
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<NewPerson>,
) -> ApiResult<impl IntoResponse> {
    let row = controller::create(&state.db, body.into()).await?;
    let location = format!("{COLLECTION}/{}", row.id);
    let body = axum::Json(PersonBody::from(row));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], body))
}

/// Read a person
#[utoipa::path(get, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    security(("bearer" = ["persons:read"])),
    responses(
        (status = 200, description = "The person", body = PersonBody),
        IdErrors, ServerErrors,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<PersonBody>> {
    let row = controller::get(&state.db, id).await?;
    Ok(axum::Json(row.into()))
}

/// Replace a person
///
/// Sets every field.
#[utoipa::path(put, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    security(("bearer" = ["persons:write"])),
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
    let row = controller::replace(&state.db, id, body.into()).await?;
    Ok(axum::Json(row.into()))
}

/// Change some fields of a person
///
/// Sets the fields given and keeps the others.
#[utoipa::path(patch, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    security(("bearer" = ["persons:write"])),
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
    let row = controller::update(&state.db, id, body.into()).await?;
    Ok(axum::Json(row.into()))
}

/// Delete a person
///
/// Refused while other rows refer to it (`still_referenced`).
#[utoipa::path(delete, path = "/persons/{id}", tag = "persons", params(("id" = i64, Path)),
    security(("bearer" = ["persons:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Other rows still refer to it", body = ErrorBody),
        IdErrors, ServerErrors,
    ))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    controller::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
