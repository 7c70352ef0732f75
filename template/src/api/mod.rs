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

use crate::config::Settings;
use crate::queue::Queue;

pub mod deprecation;
pub mod error;
pub mod extract;
pub mod mon;
pub mod pagination;
pub mod v1;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub tasks: Queue,
    pub settings: Arc<Settings>,
}

/// The top of the OpenAPI document; the paths come from the routes' annotations.
#[derive(OpenApi)]
#[openapi(
    info(description = "The service's REST API. Every error answers \
        `{\"error\": {\"code\", \"message\", \"details\"?}}`; every response carries \
        `X-Request-Id`."),
    tags(
        (name = "persons", description = "The example resource"),
        (name = "tasks", description = "Background tasks and their state"),
        (name = "monitoring", description = "Liveness, readiness and metrics"),
    ),
    components(schemas(error::ErrorBody))
)]
struct ApiDoc;

/// Every documented route: all of them but the docs themselves.
fn documented(settings: &Settings) -> OpenApiRouter<AppState> {
    // A `/v2` goes here: `.nest("/v2", v2::router())`, with its own views over the same
    // controllers.
    let mut doc = ApiDoc::openapi();
    // Cargo's license field is empty here; an empty license is not valid OpenAPI.
    doc.info.license = None;
    let mut router = OpenApiRouter::with_openapi(doc)
        .nest("/mon", mon::router())
        .nest("/v1", v1::router());
    if settings.metrics.enabled {
        router = router.routes(routes!(mon::metrics));
    }
    router
}

/// Sets the documented `per_page` maximum to the configured one.
fn document_limits(doc: &mut utoipa::openapi::OpenApi, settings: &Settings) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;

    for item in doc.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for parameter in operation.parameters.iter_mut().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                if parameter.name != "per_page" {
                    continue;
                }
                if let Some(RefOr::T(Schema::Object(schema))) = parameter.schema.as_mut() {
                    schema.maximum = Some(settings.api.max_per_page.into());
                }
            }
        }
    }
}

/// The OpenAPI document of the routes `settings` turn on (the `openapi` command prints it).
pub fn openapi(settings: &Settings) -> utoipa::openapi::OpenApi {
    let mut doc = documented(settings).into_openapi();
    document_limits(&mut doc, settings);
    doc
}

/// Every route of the service, the docs at `/doc` (and `/doc/openapi.json`) included.
pub fn router(state: AppState) -> Router {
    let (router, mut openapi) = documented(&state.settings).split_for_parts();
    document_limits(&mut openapi, &state.settings);
    // Swagger UI's files are built into the binary; nothing is fetched from elsewhere.
    let docs = SwaggerUi::new("/doc")
        .url("/doc/openapi.json", openapi)
        .config(Config::default().validator_url("none"));
    router
        .merge(docs)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}
