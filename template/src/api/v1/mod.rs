//! Version 1 of the REST API, mounted at `/v1`.
use axum::Router;
use axum::routing::{get, post};
use chrono::{TimeZone, Utc};

use super::deprecation::{Deprecation, deprecated};
use crate::app::AppState;

pub mod persons;
pub mod tasks;

pub fn router() -> Router<AppState> {
    // `/people` is the route's old name, kept to show how a route is retired.
    let people = Deprecation::since(Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap())
        .sunset(Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap())
        .successor("/v1/persons");
    Router::new()
        .route("/persons", get(persons::list).post(persons::create))
        .route(
            "/persons/{id}",
            get(persons::get)
                .put(persons::replace)
                .patch(persons::update)
                .delete(persons::delete),
        )
        .route("/persons/{id}/birthday", post(persons::birthday))
        .route("/tasks/{id}", get(tasks::get))
        .route("/people", deprecated(get(persons::list_people), people))
}
