//! The database's outages as requests see them: while it is known to be away, the API's
//! routes answer 503 at once, with `Retry-After`, instead of each waiting the pool's
//! connect timeout (see [`crate::db::Availability`]).
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::{ApiError, DatabaseAway};

/// Answers the API's routes with a 503 while the database is known to be away, and
/// notes an outage when a request finds it away. Monitoring (`/ready` checks for itself)
/// and the docs do not need the database and pass.
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let needs_database = request
        .extensions()
        .get::<MatchedPath>()
        .is_some_and(|route| is_api_version(route.as_str()));
    if needs_database && state.database.is_down() {
        return ApiError::database_away("known to be away").into_response();
    }
    let response = next.run(request).await;
    if let Some(DatabaseAway(cause)) = response.extensions().get::<DatabaseAway>() {
        state.database.report_down(&state.db, cause);
    }
    response
}

/// `/v1/...`, `/v2/...`: the routes of an API version.
fn is_api_version(route: &str) -> bool {
    route
        .strip_prefix("/v")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_versions_are_guarded_and_monitoring_and_docs_are_not() {
        for route in ["/v1/persons", "/v1/persons/{id}", "/v2/tasks/{id}"] {
            assert!(is_api_version(route), "{route}");
        }
        for route in ["/mon/ready", "/metrics", "/doc/openapi.json", "/video"] {
            assert!(!is_api_version(route), "{route}");
        }
    }
}
