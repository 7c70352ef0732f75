//! Version 1 of the REST API, mounted at `/v1`.
use utoipa_axum::router::OpenApiRouter;

use crate::api::AppState;

pub mod birthdays;
pub mod people;
pub mod persons;
pub mod tasks;

/// Every v1 route: each module's `routes()` registers its handlers, each with the
/// documentation of its `#[utoipa::path]`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tasks::routes())
        .merge(birthdays::routes())
        .merge(people::routes())
        .merge(persons::routes())
    // `cargo xtask new resource` adds the routes of new resources above this line.
}
