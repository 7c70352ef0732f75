//! Version 1 of the REST API, mounted at `/v1`.
use chrono::{TimeZone, Utc};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::deprecation::{Deprecation, deprecated};
use crate::api::AppState;

pub mod persons;
pub mod tasks;

/// Every v1 route; each handler's `#[utoipa::path]` documents it in the OpenAPI spec.
#[allow(deprecated)] // registers the deprecated `/people`
pub fn router() -> OpenApiRouter<AppState> {
    // `/people` is the route's old name, kept to show how a route is retired.
    let people = Deprecation::since(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap())
        .sunset(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        .successor("/v1/persons");
    let (schemas, paths, list_people) = routes!(persons::list_people);
    OpenApiRouter::new()
        .routes(routes!(persons::list, persons::create))
        .routes(routes!(
            persons::get,
            persons::replace,
            persons::update,
            persons::delete
        ))
        .routes(routes!(persons::birthday))
        .routes(routes!(tasks::get))
        .routes((schemas, paths, deprecated(list_people, people)))
    // `cargo xtask new resource` adds the routes of new resources above this line.
}
