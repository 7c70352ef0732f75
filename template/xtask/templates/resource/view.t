---
to: src/api/v1/{{ many }}.rs
injections:
  - into: src/api/v1/mod.rs
    among: "pub mod "
    content: "pub mod {{ many }};"
  - into: src/api/v1/mod.rs
    before: "// `cargo xtask new resource` adds the routes of new resources above this line."
    content: ".merge({{ many }}::routes())"
---
{# The type a request gives for each field type, before the checks. #}
{% set input_type = {
    "string": "String", "text": "String", "bool": "bool", "i32": "i32", "i64": "i64",
    "f64": "f64", "date": "String", "datetime": "String", "uuid": "String",
    "json": "serde_json::Value", "reference": "i64"} %}
{# The type the views show for each field type. #}
{% set body_type = {
    "string": "String", "text": "String", "bool": "bool", "i32": "i32", "i64": "i64",
    "f64": "f64", "date": "chrono::NaiveDate", "datetime": "DateTime<Utc>",
    "uuid": "uuid::Uuid", "json": "serde_json::Value", "reference": "i64"} %}
{# The `api::fields` schema that documents each field type (its `optional_` twin for a
   field that may be left out or null), and the `fields::whole` reader of whole numbers. #}
{% set schema = {
    "string": "text", "text": "long_text", "i32": "int32", "i64": "int64", "f64": "double",
    "date": "date", "datetime": "datetime", "uuid": "uuid", "reference": "int64"} %}
{% set whole = {"i32": "i32", "i64": "i64", "reference": "i64"} %}
{% macro schema_of(field, nullable) %}
{% set prefix = "optional_" if nullable else "" %}
{% if field.kind == "string" %}
{{ prefix }}text::<{{ field.upper }}_MAX_CHARS>
{%- elif field.range and field.kind == "i32" %}
{{ prefix }}integer::<{{ field.upper }}_MIN, {{ field.upper }}_MAX>
{%- elif field.range %}
{{ prefix }}big_integer::<{{ field.upper }}_MIN, {{ field.upper }}_MAX>
{%- else %}
{{ prefix }}{{ schema[field.kind] }}
{%- endif %}
{% endmacro %}
//! `/v1/{{ many }}`: JSON in, controller call, JSON out (`cargo xtask new resource` wrote
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
{% if uses_api_fields %}
use crate::api::fields;
{% endif %}
use crate::api::pagination::{PageBody, PageQuery};
use crate::controllers::{{ many }}::{self as controller, {{ One }}Changes, {{ One }}Input
{%- for field in fields if field.length %}, {{ field.upper }}_MAX_CHARS{% endfor %}
{%- for field in fields if field.range %}, {{ field.upper }}_MAX, {{ field.upper }}_MIN{% endfor %}};
use crate::models::{{ one }};

/// Where {{ many_words }} are.
const COLLECTION: &str = "/v1/{{ many }}";

/// The routes of {{ many_words }}, each with its documentation: one line per route.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(create))
        .routes(routes!(get))
        .routes(routes!(replace))
        .routes(routes!(update))
        .routes(routes!(delete))
}

/// {{ A_one }} as v1 shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct {{ One }}Body {
    pub id: i64,
{% for field in fields %}
{% if field.optional %}
    pub {{ field.name }}: Option<{{ body_type[field.kind] }}>,
{% else %}
    pub {{ field.name }}: {{ body_type[field.kind] }},
{% endif %}
{% endfor %}
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<{{ one }}::Model> for {{ One }}Body {
    fn from(row: {{ one }}::Model) -> Self {
        Self {
            id: row.id,
{% for field in fields %}
            {{ field.name }}: row.{{ field.name }},
{% endfor %}
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The body of `POST` and `PUT`: every field{% if optional %}; optional ones may be null or left out{% endif %}.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct New{{ One }} {
{% for field in fields %}
{% if field.kind == "json" %}
    /// Any JSON value; its strings may not contain U+0000.
{% endif %}
{% if field.kind in schema or field.range %}
    #[schema(schema_with = fields::{{ schema_of(field, field.optional) }})]
{% endif %}
{% if field.kind in whole and field.optional %}
    #[serde(default, deserialize_with = "fields::whole::optional_{{ whole[field.kind] }}")]
{% elif field.kind in whole %}
    #[serde(deserialize_with = "fields::whole::{{ whole[field.kind] }}")]
{% elif field.optional %}
    #[serde(default)]
{% endif %}
{% if field.optional %}
    pub {{ field.name }}: Option<{{ input_type[field.kind] }}>,
{% else %}
    pub {{ field.name }}: {{ input_type[field.kind] }},
{% endif %}
{% endfor %}
}

/// The body of `PATCH`: any of the fields{% if optional %}; `null` clears an optional one{% endif %}.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct {{ One }}Patch {
{% for field in fields %}
{% if field.kind == "json" %}
    /// Any JSON value; its strings may not contain U+0000.
{% endif %}
{% if field.kind in schema or field.range %}
    #[schema(schema_with = fields::{{ schema_of(field, true) }})]
{% elif field.optional %}
    #[schema(value_type = Option<{{ input_type[field.kind] }}>)]
{% endif %}
{% if field.kind in whole and field.optional %}
    #[serde(default, deserialize_with = "fields::whole::clearable_{{ whole[field.kind] }}")]
{% elif field.kind in whole %}
    #[serde(default, deserialize_with = "fields::whole::optional_{{ whole[field.kind] }}")]
{% elif field.optional %}
    #[serde(default, deserialize_with = "fields::clearable")]
{% else %}
    #[serde(default)]
{% endif %}
{% if field.optional %}
    pub {{ field.name }}: Option<Option<{{ input_type[field.kind] }}>>,
{% else %}
    pub {{ field.name }}: Option<{{ input_type[field.kind] }}>,
{% endif %}
{% endfor %}
}

impl From<New{{ One }}> for {{ One }}Input {
    fn from(body: New{{ One }}) -> Self {
        Self {
{% for field in fields %}
            {{ field.name }}: body.{{ field.name }},
{% endfor %}
        }
    }
}

impl From<{{ One }}Patch> for {{ One }}Changes {
    fn from(body: {{ One }}Patch) -> Self {
        Self {
{% for field in fields %}
            {{ field.name }}: body.{{ field.name }},
{% endfor %}
        }
    }
}

/// List {{ many_words }}, oldest first
///
/// One page at a time; `next` and `prev` link to the neighbour pages.
#[utoipa::path(get, path = "/{{ many }}", tag = "{{ many }}", params(PageQuery),
    security(("bearer" = ["{{ many }}:read"])),
    responses(
        (status = 200, description = "A page of {{ many_words }}", body = PageBody<{{ One }}Body>),
        QueryErrors, ServerErrors,
    ))]
pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<PageQuery>,
) -> ApiResult<axum::Json<PageBody<{{ One }}Body>>> {
    let page = query.page(&state.settings.api)?;
    let paged = controller::list(&state.db, page).await?;
    Ok(axum::Json(PageBody::new(
        COLLECTION,
        paged,
        {{ One }}Body::from,
    )))
}

/// Create {{ a_one }}
#[utoipa::path(post, path = "/{{ many }}", tag = "{{ many }}", request_body = New{{ One }},
    security(("bearer" = ["{{ many }}:write"])),
    responses(
        (status = 201, description = "Created; `Location` names it", body = {{ One }}Body),
        BodyErrors, ServerErrors,
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<New{{ One }}>,
) -> ApiResult<impl IntoResponse> {
    let row = controller::create(&state.db, body.into()).await?;
    let location = format!("{COLLECTION}/{}", row.id);
    let body = axum::Json({{ One }}Body::from(row));
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], body))
}

/// Read {{ a_one }}
#[utoipa::path(get, path = "/{{ many }}/{id}", tag = "{{ many }}", params(("id" = i64, Path)),
    security(("bearer" = ["{{ many }}:read"])),
    responses(
        (status = 200, description = "The {{ one_words }}", body = {{ One }}Body),
        IdErrors, ServerErrors,
    ))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> ApiResult<axum::Json<{{ One }}Body>> {
    let row = controller::get(&state.db, id).await?;
    Ok(axum::Json(row.into()))
}

/// Replace {{ a_one }}
///
/// Sets every field{% if optional %}; optional fields left out are cleared{% endif %}.
#[utoipa::path(put, path = "/{{ many }}/{id}", tag = "{{ many }}", params(("id" = i64, Path)),
    security(("bearer" = ["{{ many }}:write"])),
    request_body = New{{ One }},
    responses(
        (status = 200, description = "The {{ one_words }} as replaced", body = {{ One }}Body),
        IdErrors, BodyErrors, ServerErrors,
    ))]
pub async fn replace(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<New{{ One }}>,
) -> ApiResult<axum::Json<{{ One }}Body>> {
    let row = controller::replace(&state.db, id, body.into()).await?;
    Ok(axum::Json(row.into()))
}

/// Change some fields of {{ a_one }}
///
/// Sets the fields given and keeps the others{% if optional %}; `null` clears an optional field{% endif %}.
#[utoipa::path(patch, path = "/{{ many }}/{id}", tag = "{{ many }}", params(("id" = i64, Path)),
    security(("bearer" = ["{{ many }}:write"])),
    request_body = {{ One }}Patch,
    responses(
        (status = 200, description = "The {{ one_words }} as changed", body = {{ One }}Body),
        IdErrors, BodyErrors, ServerErrors,
    ))]
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<{{ One }}Patch>,
) -> ApiResult<axum::Json<{{ One }}Body>> {
    let row = controller::update(&state.db, id, body.into()).await?;
    Ok(axum::Json(row.into()))
}

/// Delete {{ a_one }}
///
/// Refused while other rows refer to it (`still_referenced`).
#[utoipa::path(delete, path = "/{{ many }}/{id}", tag = "{{ many }}", params(("id" = i64, Path)),
    security(("bearer" = ["{{ many }}:write"])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, description = "Other rows still refer to it", body = ErrorBody),
        IdErrors, ServerErrors,
    ))]
pub async fn delete(State(state): State<AppState>, Path(id): Path<i64>) -> ApiResult<StatusCode> {
    controller::delete(&state.db, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
