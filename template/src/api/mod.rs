//! Views: routers that parse requests, call controllers and format their answers.
//!
//! The main router holds what every version shares (monitoring, errors); each API version
//! is a router of its own nested under `/v1`, `/v2`, ... and reusing the controllers.
use std::sync::Arc;

use axum::Router;
use sea_orm::DatabaseConnection;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::auth::Authenticator;
use crate::config::Settings;
use crate::queue::Queue;
use middleware::outage;

pub mod auth;
pub mod deprecation;
pub mod docs;
pub mod error;
pub mod extract;
pub mod fields;
pub mod middleware;
pub mod mon;
pub mod pagination;
pub mod v1;

/// What every handler can reach, as `state.db`, `state.tasks`, ... Axum clones it for every
/// request (several times on its way through the middleware), so it is one `Arc`: one count
/// raised and lowered per clone, not one per service it holds.
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

/// The services behind [`AppState`].
pub struct Services {
    pub db: DatabaseConnection,
    /// Whether the database answers, as this process knows it (see [`outage`]).
    pub health: crate::db::Health,
    pub tasks: Queue,
    pub settings: Arc<Settings>,
    /// Checks callers' credentials (see [`auth`]).
    pub auth: Authenticator,
}

/// The top of the OpenAPI document; the paths come from the routes' annotations.
#[derive(OpenApi)]
#[openapi(
    info(description = "The service's REST API. Every error answers \
        `{\"error\": {\"code\", \"message\", \"details\"?}}`; every response carries \
        `X-Request-Id`. Any route but `/mon/ping` may answer 503 `overloaded`, with \
        `Retry-After`, when the service handles as many requests as it takes at once. The \
        [guide](guide/) explains resources, tasks, errors and paging."),
    tags(
        (name = "persons", description = "The example resource"),
        (name = "tasks", description = "Background tasks and their state"),
        (name = "monitoring", description = "Liveness, readiness and metrics"),
    ),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

/// Every documented route: all of them but the docs themselves (and `/metrics` when off).
fn documented(metrics: bool) -> OpenApiRouter<AppState> {
    // A `/v2` goes here: `.nest("/v2", v2::router())`, with its own views over the same
    // controllers.
    let mut doc = ApiDoc::openapi();
    // Cargo's license field is empty here; an empty license is not valid OpenAPI.
    doc.info.license = None;
    let mut router = OpenApiRouter::with_openapi(doc)
        .nest("/mon", mon::router())
        .nest("/v1", v1::router());
    if metrics {
        router = router.routes(routes!(mon::metrics));
    }
    router
}

/// The OpenAPI document of the routes `settings` turn on (the `openapi` command prints it).
pub fn openapi(settings: &Settings) -> utoipa::openapi::OpenApi {
    let mut doc = documented(settings.metrics.enabled).into_openapi();
    pagination::document_limits(&mut doc, &settings.api);
    auth::document(&mut doc, &settings.auth);
    doc
}

/// Every route of the service, the docs at `/doc` (and `/doc/openapi.json`) included.
pub fn router(state: AppState) -> Router {
    let (router, mut openapi) = documented(state.settings.metrics.enabled).split_for_parts();
    pagination::document_limits(&mut openapi, &state.settings.api);
    auth::document(&mut openapi, &state.settings.auth);
    // The permission each route needs is read from its documentation: one declaration.
    let rules = auth::Rules::from_openapi(&openapi);
    let checks = middleware::auth::AuthLayer::new(state.auth.clone(), rules, &state.settings.auth);
    // Swagger UI's files are built into the binary; nothing is fetched from elsewhere.
    let docs = SwaggerUi::new("/doc")
        .url("/doc/openapi.json", openapi)
        .config(Config::default().validator_url("none"));
    let outage = outage::GuardLayer::new(state.health.clone(), state.db.clone());
    router
        .merge(docs)
        .merge(self::docs::router())
        .layer(outage)
        .layer(checks)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Swagger UI shows a summary beside its route: it says what the operation does, in
    /// words, on one line (the doc comment's first paragraph).
    #[test]
    fn every_operation_is_summed_up_in_words() {
        let doc = documented(true).into_openapi();
        let mut operations = 0;
        for (path, item) in &doc.paths.paths {
            let methods = [&item.get, &item.post, &item.put, &item.patch, &item.delete];
            for operation in methods.into_iter().flatten() {
                operations += 1;
                let summary = operation.summary.as_deref().unwrap_or_default();
                let words = !summary.is_empty()
                    && !summary.contains(['`', '/', '\n'])
                    && summary.starts_with(char::is_uppercase);
                assert!(words, "{path}: {summary:?}");
            }
        }
        assert!(operations >= 12, "{operations} operations");
    }
}
