//! `/v1/people`: the old name of `GET /v1/persons`, kept to show how a route is retired.
use axum::extract::State;
use chrono::{TimeZone, Utc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::persons::{self, PersonBody};
use crate::api::AppState;
use crate::api::deprecation::{Deprecation, deprecated};
use crate::api::error::{ApiResult, QueryErrors, ServerErrors};
use crate::api::extract::Query;
use crate::api::pagination::{PageBody, PageQuery};

/// The route, with the headers that say when it goes away and what replaces it.
#[allow(deprecated)] // registers the deprecated handler
pub fn routes() -> OpenApiRouter<AppState> {
    let deprecation = Deprecation::since(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap())
        .sunset(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        .successor("/v1/persons");
    let (schemas, paths, list_people) = routes!(list_people);
    OpenApiRouter::new().routes((schemas, paths, deprecated(list_people, deprecation)))
}

/// List persons, under the route's old name
///
/// As `GET /v1/persons`, with headers that say when this route goes away.
#[utoipa::path(get, path = "/people", tag = "persons", params(PageQuery),
    security(("bearer" = ["persons:read"])),
    responses(
        (status = 200, description = "A page of persons", body = PageBody<PersonBody>),
        QueryErrors, ServerErrors,
    ))]
#[deprecated = "use GET /v1/persons"]
pub async fn list_people(
    state: State<AppState>,
    query: Query<PageQuery>,
) -> ApiResult<axum::Json<PageBody<PersonBody>>> {
    persons::list(state, query).await
}
