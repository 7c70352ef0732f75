//! Who may call each route: the permission a route needs is declared once, with its
//! documentation (`#[utoipa::path(..., security(("bearer" = ["persons:read"])))]`, or
//! `security(())` for an open route), and enforced from that same OpenAPI document, so the
//! two cannot drift. A documented operation that declares nothing, or a route the document
//! does not know, is refused, not open.
//!
//! Credentials come as `Authorization: Bearer <API key or token>` (see `crate::auth`).
//! Missing or bad ones get a 401 with `WWW-Authenticate: Bearer`; a caller without the
//! permission gets a 403 naming it; the caller's name goes on the request's log line
//! (`caller`), its Sentry events, and the tasks it schedules ([`RequestOrigin`]).
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, PathItem, Ref, RefOr, ResponseBuilder};

use super::error::ApiError;
use crate::auth::{AuthError, Authenticator, Identity};
use crate::config::AuthSettings;
use crate::controllers;
use crate::queue::Origin;

/// The security scheme every route names: a bearer credential, token or API key.
pub const SCHEME: &str = "bearer";
/// The permission `/metrics` needs unless `auth.public_metrics`.
pub const METRICS_PERMISSION: &str = "metrics:read";
/// The permission `/doc` needs unless `auth.public_docs`.
pub const DOCS_PERMISSION: &str = "docs:read";

/// Declares the scheme, opens or closes `/metrics` as configured, and documents the
/// 401 and 403 of every operation that needs a permission.
pub fn document(doc: &mut OpenApi, settings: &AuthSettings) {
    let components = doc.components.get_or_insert_with(Default::default);
    let mut http = Http::new(HttpAuthScheme::Bearer);
    http.description = Some(format!(
        "An API key (`{} keys create --name NAME --scope persons:read ...`) or an access \
         token from the OpenID Connect provider, sent as `Authorization: Bearer ...`. Each \
         operation names the permissions it needs; a token's come from its `scope` (or \
         `scp`) and roles claims.",
        env!("CARGO_PKG_NAME")
    ));
    components.add_security_scheme(SCHEME, SecurityScheme::Http(http));
    for (path, item) in doc.paths.paths.iter_mut() {
        for (_, operation) in operations_mut(item) {
            if path == "/metrics" && settings.public_metrics {
                operation.security = Some(vec![SecurityRequirement::default()]);
            }
            let protected = operation
                .security
                .as_ref()
                .is_some_and(|alternatives| !alternatives.iter().any(is_open));
            if protected {
                let responses = &mut operation.responses.responses;
                for (status, description) in [
                    (
                        "401",
                        "No credentials, or bad ones (`WWW-Authenticate: Bearer`)",
                    ),
                    (
                        "403",
                        "The caller lacks a permission this operation needs; the message names it",
                    ),
                    (
                        "503",
                        "A dependency (the database, the task queue or the identity provider) cannot be reached; try again later",
                    ),
                ] {
                    responses.entry(status.to_owned()).or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description(description)
                                .content(
                                    "application/json",
                                    utoipa::openapi::ContentBuilder::new()
                                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                                        .build(),
                                )
                                .build(),
                        )
                    });
                }
            }
        }
    }
}

/// The operations of a path item, by method.
fn operations_mut(item: &mut PathItem) -> Vec<(Method, &mut utoipa::openapi::path::Operation)> {
    [
        (Method::GET, &mut item.get),
        (Method::PUT, &mut item.put),
        (Method::POST, &mut item.post),
        (Method::DELETE, &mut item.delete),
        (Method::OPTIONS, &mut item.options),
        (Method::HEAD, &mut item.head),
        (Method::PATCH, &mut item.patch),
        (Method::TRACE, &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, operation)| Some((method, operation.as_mut()?)))
    .collect()
}

/// An empty requirement (`security(())`): no credentials needed.
fn is_open(requirement: &SecurityRequirement) -> bool {
    requirement_scopes(requirement).is_some_and(|schemes| schemes.is_empty())
}

/// A requirement as scheme → permissions (its fields are private to utoipa).
fn requirement_scopes(requirement: &SecurityRequirement) -> Option<HashMap<String, Vec<String>>> {
    serde_json::from_value(serde_json::to_value(requirement).ok()?).ok()
}

/// What a route needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    /// Nothing: monitoring.
    Open,
    /// Any one of these sets of permissions (shared: no copy per request).
    AnyOf(Arc<[Vec<String>]>),
    /// Documented without a `security` declaration, or declared wrongly: refused.
    Undeclared(String),
}

/// The rules of every documented route, by route template and method.
#[derive(Debug, Default)]
pub struct Rules {
    by_route: HashMap<String, Vec<(Method, Rule)>>,
}

impl Rules {
    /// Reads each operation's `security` from the document.
    pub fn from_openapi(doc: &OpenApi) -> Self {
        let mut rules = Self::default();
        for (path, item) in &doc.paths.paths {
            let mut item = item.clone();
            let methods = operations_mut(&mut item)
                .into_iter()
                .map(|(method, operation)| (method, rule(operation.security.as_deref())))
                .collect();
            rules.by_route.insert(path.clone(), methods);
        }
        rules
    }

    /// `METHOD /route: why` for each operation that is refused for want of a declaration.
    pub fn undeclared(&self) -> Vec<String> {
        let mut found: Vec<String> = self
            .by_route
            .iter()
            .flat_map(|(route, methods)| {
                methods.iter().filter_map(move |(method, rule)| match rule {
                    Rule::Undeclared(why) => Some(format!("{method} {route}: {why}")),
                    _ => None,
                })
            })
            .collect();
        found.sort();
        found
    }

    /// What `method` on `route` needs; `Err` with the route's methods when it has no
    /// operation for `method`.
    fn find(&self, route: &str, method: &Method) -> Option<Result<&Rule, String>> {
        let methods = self.by_route.get(route)?;
        let wanted = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        Some(
            methods
                .iter()
                .find(|(m, _)| m == method || m == wanted)
                .map(|(_, rule)| rule)
                .ok_or_else(|| {
                    let mut allow: Vec<&str> = methods.iter().map(|(m, _)| m.as_str()).collect();
                    if allow.contains(&"GET") {
                        allow.push("HEAD");
                    }
                    allow.join(",")
                }),
        )
    }
}

fn rule(security: Option<&[SecurityRequirement]>) -> Rule {
    let Some(alternatives) = security else {
        return Rule::Undeclared("no `security(...)` in its #[utoipa::path]".into());
    };
    let mut any_of = Vec::new();
    for requirement in alternatives {
        let Some(schemes) = requirement_scopes(requirement) else {
            return Rule::Undeclared("an unreadable security requirement".into());
        };
        if schemes.is_empty() {
            return Rule::Open;
        }
        let mut needed = Vec::new();
        for (scheme, scopes) in schemes {
            if scheme != SCHEME {
                return Rule::Undeclared(format!("unknown security scheme {scheme:?}"));
            }
            if scopes.is_empty() {
                return Rule::Undeclared("a requirement that names no permission".into());
            }
            needed.extend(scopes);
        }
        any_of.push(needed);
    }
    if any_of.is_empty() {
        return Rule::Undeclared("an empty `security` list".into());
    }
    Rule::AnyOf(any_of.into())
}

/// Checks callers against the rules before a route's handler runs.
#[derive(Clone)]
pub struct AuthLayer(Arc<Shared>);

struct Shared {
    auth: Authenticator,
    rules: Rules,
    public_docs: bool,
    /// What `/doc` needs when it is not public.
    docs_rule: Arc<[Vec<String>]>,
}

impl AuthLayer {
    pub fn new(auth: Authenticator, rules: Rules, settings: &AuthSettings) -> Self {
        let undeclared = rules.undeclared();
        if auth.enabled() && !undeclared.is_empty() {
            // A bug: these routes are closed until they declare a permission.
            tracing::error!(
                routes = undeclared.join("; "),
                "routes that declare no permission are refused"
            );
        }
        Self(Arc::new(Shared {
            auth,
            rules,
            public_docs: settings.public_docs,
            docs_rule: Arc::from([vec![DOCS_PERMISSION.to_owned()]]),
        }))
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthGuard<S>;

    fn layer(&self, inner: S) -> AuthGuard<S> {
        AuthGuard {
            inner,
            shared: self.0.clone(),
        }
    }
}

/// The check around one route.
#[derive(Clone)]
pub struct AuthGuard<S> {
    inner: S,
    shared: Arc<Shared>,
}

/// What the guard decided before the handler.
enum Verdict {
    Pass,
    Check(Arc<[Vec<String>]>),
    Refuse(Response),
}

impl Shared {
    fn verdict(&self, request: &Request) -> Verdict {
        if !self.auth.enabled() {
            return Verdict::Pass;
        }
        // Unknown paths get their 404 from the router.
        let Some(route) = request.extensions().get::<MatchedPath>() else {
            return Verdict::Pass;
        };
        let route = route.as_str();
        match self.rules.find(route, request.method()) {
            Some(Ok(Rule::Open)) => Verdict::Pass,
            Some(Ok(Rule::AnyOf(any_of))) => Verdict::Check(any_of.clone()),
            Some(Ok(Rule::Undeclared(_))) => Verdict::Refuse(undeclared(route)),
            Some(Err(allow)) => {
                let mut response =
                    ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED).into_response();
                if let Ok(allow) = HeaderValue::try_from(allow) {
                    response.headers_mut().insert(header::ALLOW, allow);
                }
                Verdict::Refuse(response)
            }
            None if route == "/doc" || route.starts_with("/doc/") => {
                if self.public_docs {
                    Verdict::Pass
                } else {
                    Verdict::Check(self.docs_rule.clone())
                }
            }
            None => Verdict::Refuse(undeclared(route)),
        }
    }
}

fn undeclared(route: &str) -> Response {
    tracing::error!(
        route,
        "a route that declares no permission was called: refused"
    );
    ApiError::new(
        StatusCode::FORBIDDEN,
        "this route declares no permission, so no one may call it",
    )
    .into_response()
}

impl<S> Service<Request> for AuthGuard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let any_of = match self.shared.verdict(&request) {
            Verdict::Pass => return Box::pin(self.inner.call(request)),
            Verdict::Refuse(response) => return Box::pin(std::future::ready(Ok(response))),
            Verdict::Check(any_of) => any_of,
        };
        // The service that was made ready runs the request; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let shared = self.shared.clone();
        let span = tracing::Span::current();
        Box::pin(async move {
            let identity = match bearer(&request) {
                Some(credential) => shared.auth.authenticate(credential).await,
                None => Err(AuthError::Missing),
            };
            let identity = match identity {
                Ok(identity) => identity,
                Err(error) => return Ok(refused(error)),
            };
            span.record("caller", identity.caller());
            if let Some(missing) = lacking(&identity, &any_of) {
                return Ok(forbidden(&missing));
            }
            request.extensions_mut().insert(Caller(Some(identity)));
            inner.call(request).await
        })
    }
}

/// The credential after `Authorization: Bearer`.
fn bearer(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

/// The permissions missing for the closest of `any_of`, or `None` if one is satisfied.
fn lacking(identity: &Identity, any_of: &[Vec<String>]) -> Option<Vec<String>> {
    let mut closest: Option<Vec<String>> = None;
    for needed in any_of {
        let missing: Vec<String> = needed
            .iter()
            .filter(|permission| !identity.has(permission))
            .cloned()
            .collect();
        if missing.is_empty() {
            return None;
        }
        if closest
            .as_ref()
            .is_none_or(|best| missing.len() < best.len())
        {
            closest = Some(missing);
        }
    }
    closest
}

/// The 401 (or 503) of a credential that did not pass.
fn refused(error: AuthError) -> Response {
    let challenge = match &error {
        AuthError::Missing => "Bearer".to_owned(),
        AuthError::Invalid(why) => {
            format!("Bearer error=\"invalid_token\", error_description=\"{why}\"")
        }
        AuthError::KeysUnavailable => {
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the identity provider is unavailable; try again later",
            )
            .with_cause(error)
            .into_response();
        }
        AuthError::Database(db) => {
            return ApiError::from(controllers::Error::from(db.clone())).into_response();
        }
    };
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, error.to_string()).into_response();
    if let Ok(challenge) = HeaderValue::try_from(challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// The 403 naming the permissions the caller lacks.
fn forbidden(missing: &[String]) -> Response {
    let list = missing.join(" ");
    let mut response = ApiError::new(
        StatusCode::FORBIDDEN,
        format!("this needs the permission {}", missing.join(" and ")),
    )
    .into_response();
    let challenge = format!("Bearer error=\"insufficient_scope\", scope=\"{list}\"");
    if let Ok(challenge) = HeaderValue::try_from(challenge) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}

/// The request's caller, when its route needed one and auth is on.
#[derive(Clone, Debug, Default)]
pub struct Caller(pub Option<Arc<Identity>>);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The request's id and caller, recorded on the tasks it schedules.
pub struct RequestOrigin(pub Origin);

impl<S: Send + Sync> FromRequestParts<S> for RequestOrigin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Infallible> {
        let request_id = parts
            .headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let Caller(caller) = Caller::from_request_parts(parts, state).await?;
        Ok(Self(Origin {
            request_id,
            caller: caller.map(|identity| identity.caller().to_owned()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn security(json: serde_json::Value) -> Vec<SecurityRequirement> {
        serde_json::from_value(json).expect("requirements")
    }

    #[test]
    fn each_declaration_becomes_a_rule() {
        assert_eq!(rule(Some(&security(serde_json::json!([{}])))), Rule::Open);
        assert_eq!(
            rule(Some(&security(
                serde_json::json!([{"bearer": ["persons:read"]}])
            ))),
            Rule::AnyOf(Arc::from([vec!["persons:read".to_owned()]]))
        );
        assert!(matches!(rule(None), Rule::Undeclared(_)));
        for refused in [
            serde_json::json!([]),
            serde_json::json!([{"bearer": []}]),
            serde_json::json!([{"cookie": ["persons:read"]}]),
        ] {
            let declared = security(refused.clone());
            assert!(
                matches!(rule(Some(&declared)), Rule::Undeclared(_)),
                "{refused}"
            );
        }
    }

    /// A router with `/declared` (documented, needing `persons:read`), `/silent`
    /// (documented without `security`) and `/hidden` (not documented), behind the guard.
    /// Auth on, as `config/default.yaml` has it.
    async fn guarded() -> axum::Router {
        use utoipa_axum::router::OpenApiRouter;
        use utoipa_axum::routes;

        /// Declared
        #[utoipa::path(get, path = "/declared", security(("bearer" = ["persons:read"])),
            responses((status = 200, description = "ok")))]
        async fn declared() -> &'static str {
            "declared"
        }
        /// Silent
        #[utoipa::path(get, path = "/silent", responses((status = 200, description = "ok")))]
        async fn silent() -> &'static str {
            "silent"
        }

        let (router, doc) = OpenApiRouter::new()
            .routes(routes!(declared))
            .routes(routes!(silent))
            .split_for_parts();
        // A route outside the documenting router, as docs.rs's test forbids in the API.
        let router =
            axum::Router::route(router, "/hidden", axum::routing::get(|| async { "hidden" }));
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("SQLite");
        let settings = crate::config::Settings::defaults().expect("defaults").auth;
        let auth = Authenticator::start(&settings, db).expect("auth");
        router.layer(AuthLayer::new(auth, Rules::from_openapi(&doc), &settings))
    }

    async fn status(router: &axum::Router, path: &str) -> StatusCode {
        let request = Request::builder()
            .uri(path)
            .header(header::AUTHORIZATION, "Bearer sk_000000000000_nope")
            .body(axum::body::Body::empty())
            .expect("request");
        let mut service = router.clone();
        std::future::poll_fn(|cx| Service::<Request>::poll_ready(&mut service, cx))
            .await
            .expect("ready");
        service.call(request).await.expect("answer").status()
    }

    #[tokio::test]
    async fn a_route_that_declares_nothing_is_refused_not_open() {
        let router = guarded().await;
        assert_eq!(status(&router, "/declared").await, StatusCode::UNAUTHORIZED);
        assert_eq!(status(&router, "/silent").await, StatusCode::FORBIDDEN);
        assert_eq!(status(&router, "/hidden").await, StatusCode::FORBIDDEN);
    }

    #[test]
    fn the_missing_permission_is_named() {
        let identity = Identity::new("key:ci".into(), vec!["persons:read".into()], None);
        let read = vec![vec!["persons:read".to_owned()]];
        assert_eq!(lacking(&identity, &read), None);
        let write = vec![vec!["persons:write".to_owned()]];
        assert_eq!(
            lacking(&identity, &write),
            Some(vec!["persons:write".to_owned()])
        );
    }
}
