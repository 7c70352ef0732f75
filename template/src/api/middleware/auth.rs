//! The check before each route's handler: the caller's credentials, from
//! `Authorization: Bearer <API key or token>` (see `crate::auth`), against the permission
//! the route declares (see [`api::auth`](crate::api::auth)). Missing or bad ones get a 401
//! with `WWW-Authenticate: Bearer`; a caller without the permission gets a 403 naming it;
//! the caller's name goes on the request's log line (`caller`), its Sentry events, and the
//! tasks it schedules ([`RequestOrigin`](crate::api::auth::RequestOrigin)).
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::api::auth::{Caller, DOCS_PERMISSION, Rule, Rules};
use crate::api::error::ApiError;
use crate::auth::{AuthError, Authenticator, Identity};
use crate::config::AuthSettings;
use crate::controllers;

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
    /// The guard of `rules`; `/doc` needs [`DOCS_PERMISSION`] unless `auth.public_docs`.
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

#[cfg(test)]
mod tests {
    use super::*;

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
