//! Marks routes as deprecated, so clients learn before the route goes away.
//!
//! A deprecated route answers as before, plus `X-Deprecated: true`, `Deprecation`
//! (RFC 9745), and, when known, `Sunset` (RFC 8594) and a `Link` to its successor.
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::map_response_with_state;
use axum::response::Response;
use axum::routing::MethodRouter;
use chrono::{DateTime, Utc};

/// When and how a route is deprecated.
#[derive(Debug, Clone)]
pub struct Deprecation {
    since: DateTime<Utc>,
    sunset: Option<DateTime<Utc>>,
    successor: Option<&'static str>,
}

impl Deprecation {
    /// A route deprecated on `date`.
    pub fn since(date: DateTime<Utc>) -> Self {
        Self {
            since: date,
            sunset: None,
            successor: None,
        }
    }

    /// The date the route will stop answering.
    pub fn sunset(mut self, date: DateTime<Utc>) -> Self {
        self.sunset = Some(date);
        self
    }

    /// The path clients should move to.
    pub fn successor(mut self, path: &'static str) -> Self {
        self.successor = Some(path);
        self
    }

    fn headers(&self) -> Headers {
        let mut headers = vec![(
            HeaderName::from_static("x-deprecated"),
            HeaderValue::from_static("true"),
        )];
        headers.extend(value("deprecation", format!("@{}", self.since.timestamp())));
        if let Some(date) = self.sunset {
            let http_date = date.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
            headers.extend(value("sunset", http_date));
        }
        if let Some(path) = self.successor {
            headers.extend(value(
                "link",
                format!("<{path}>; rel=\"successor-version\""),
            ));
        }
        Headers(headers.into())
    }
}

fn value(name: &'static str, value: String) -> Option<(HeaderName, HeaderValue)> {
    Some((
        HeaderName::from_static(name),
        HeaderValue::try_from(value).ok()?,
    ))
}

/// Serves `route` as before, with the deprecation headers added to every answer.
///
/// ```text
/// .route("/people", deprecated(get(list), Deprecation::since(date).successor("/v1/persons")))
/// ```
pub fn deprecated<S>(route: MethodRouter<S>, deprecation: Deprecation) -> MethodRouter<S>
where
    S: Clone + Send + Sync + 'static,
{
    route.layer(map_response_with_state(deprecation.headers(), add_headers))
}

/// The headers a deprecated route adds, computed once.
#[derive(Debug, Clone)]
struct Headers(std::sync::Arc<[(HeaderName, HeaderValue)]>);

async fn add_headers(State(headers): State<Headers>, mut response: Response) -> Response {
    for (name, value) in headers.0.iter() {
        response.headers_mut().insert(name.clone(), value.clone());
    }
    response
}
