//! Who may call each route: the permission a route needs is declared once, with its
//! documentation (`#[utoipa::path(..., security(("bearer" = ["persons:read"])))]`, or
//! `security(())` for an open route), and enforced from that same OpenAPI document, so the
//! two cannot drift. A documented operation that declares nothing, or a route the document
//! does not know, is refused, not open.
//!
//! Here: the declarations read from the document ([`Rules`]), and what the views learn of
//! the caller ([`Caller`], [`RequestOrigin`]). The check itself, before each handler, is
//! [`middleware::auth`](super::middleware::auth).
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::request::Parts;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi, PathItem, Ref, RefOr, ResponseBuilder};

use crate::auth::Identity;
use crate::config::AuthSettings;
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
pub(crate) enum Rule {
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
    pub(crate) fn find(&self, route: &str, method: &Method) -> Option<Result<&Rule, String>> {
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
}
