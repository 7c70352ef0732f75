//! Views: routers that parse requests, call controllers and format their answers.
//!
//! The main router holds what every version shares (monitoring, errors); each API version
//! is a router of its own nested under `/v1`, `/v2`, ... and reusing the controllers.
use axum::Router;
use axum::routing::get;

use crate::app::AppState;

pub mod deprecation;
pub mod error;
pub mod extract;
pub mod mon;
pub mod pagination;
pub mod v1;

/// Every route of the service.
pub fn router(state: AppState) -> Router {
    // A `/v2` goes here: `.nest("/v2", v2::router())`, with its own views over the same
    // controllers.
    let mut router = Router::new()
        .nest("/mon", mon::router())
        .nest("/v1", v1::router());
    if state.settings.metrics.enabled {
        router = router.route("/metrics", get(mon::metrics));
    }
    router
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}
