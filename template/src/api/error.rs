//! The one error shape of the API: `{"error": {"code", "message", "details"?}}`, and the
//! sets of error responses that handlers document.
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{BoxError, Json};
use serde::Serialize;

use crate::controllers::{self, Dependency, FieldError};

/// How long a client is asked to wait (`Retry-After`, in seconds) before trying a 503 again.
pub const RETRY_AFTER_SECS: u64 = 2;

/// What a handler answers: its success, or an [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;

/// An HTTP error answered as JSON.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    detail: ErrorDetail,
    /// What went wrong inside, for the log (and Sentry) only: never sent to the client.
    cause: Option<String>,
    /// A 503 because the database is away: logged once per outage, not per request.
    database_away: bool,
    /// A 503 because the database is busy: a warning, not an error (no Sentry event).
    database_busy: Option<crate::db::Busy>,
}

/// Put on a response whose request found the database away, with the cause: the outage
/// guard (see [`super::outage`]) takes it from there.
#[derive(Debug, Clone)]
pub struct DatabaseAway(pub String);

/// Put on a response whose request waited in vain for a pooled connection: the outage
/// guard checks whether the database is busy or away.
#[derive(Debug, Clone, Copy)]
pub struct PoolExhausted;

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct ErrorDetail {
    /// A stable name for the error: the status's (`not_found`, `validation_failed` ...)
    /// unless the handler names the case (`name_taken`).
    #[schema(example = "validation_failed")]
    code: &'static str,
    /// What went wrong, for people.
    message: String,
    /// Per-field problems of a 422.
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Vec<FieldError>>,
}

impl ApiError {
    /// An error with the status's own code (see [`default_code`]).
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: ErrorDetail {
                code: default_code(status),
                message: message.into(),
                details: None,
            },
            cause: None,
            database_away: false,
            database_busy: None,
        }
    }

    /// Names the case for clients, in place of the status's code: two 409s can differ.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.detail.code = code;
        self
    }

    /// Adds the inner cause of a 5xx, logged but not answered.
    pub fn with_cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.cause = Some(cause.to_string());
        self
    }

    /// A 400 for a request that is malformed in a way the client can fix.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The error for a status alone, with its standard wording.
    pub fn from_status(status: StatusCode) -> Self {
        Self::new(status, status.canonical_reason().unwrap_or("error"))
    }

    /// The 503 of a request that needs the database while it is away.
    pub fn database_away(cause: impl std::fmt::Display) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} is unavailable; try again later", Dependency::Database),
        )
        .with_cause(cause);
        error.database_away = true;
        error
    }

    /// The 503 of a request the database had no time for (see [`crate::db::Busy`]).
    pub fn database_busy(reason: crate::db::Busy, cause: impl std::fmt::Display) -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} is busy; try again later", Dependency::Database),
        )
        .with_cause(cause);
        error.database_busy = Some(reason);
        error
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The code of an error whose handler names no case: a stable name for its status.
pub fn default_code(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = self.cause.unwrap_or_else(|| self.detail.message.clone());
        if self.database_away {
            // Not a bug: the outage is logged once, where it is noticed.
            tracing::debug!(error, "the database is unreachable");
        } else if self.database_busy.is_some() {
            // Not a bug either: the database or its pool is too small for the load.
            tracing::warn!(error, "the database is busy");
        } else if self.status.is_server_error() {
            // One ERROR event per failed request: Sentry gets one report each.
            tracing::error!(status = self.status.as_u16(), error, "request failed");
        }
        let body = ErrorBody { error: self.detail };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if self.database_away {
            response.extensions_mut().insert(DatabaseAway(error));
        } else if self.database_busy == Some(crate::db::Busy::Pool) {
            response.extensions_mut().insert(PoolExhausted);
        }
        response
    }
}

impl From<controllers::Error> for ApiError {
    fn from(error: controllers::Error) -> Self {
        use controllers::Error;
        match error {
            Error::NotFound { .. } => Self::new(StatusCode::NOT_FOUND, error.to_string()),
            Error::Invalid(fields) => {
                let mut invalid = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid input");
                invalid.detail.details = Some(fields);
                invalid
            }
            Error::Conflict { code, message } => {
                Self::new(StatusCode::CONFLICT, message).with_code(code)
            }
            // The causes go to the log; the client gets no internals.
            Error::Database(db) => Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
                .with_cause(format!("database: {db}")),
            Error::Unavailable {
                dependency: Dependency::Database,
                ..
            } => Self::database_away(error),
            Error::Busy { reason, .. } => Self::database_busy(reason, error),
            Error::Unavailable { dependency, .. } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{dependency} is unavailable; try again later"),
            )
            .with_cause(error),
            Error::Internal(cause) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error").with_cause(cause)
            }
        }
    }
}

/// The description of every documented 400: it has the same causes in every set.
const MALFORMED: &str = "A malformed request: bad JSON, or a bad path or query parameter";

/// The documented errors of a route with query parameters.
#[derive(utoipa::IntoResponses)]
pub enum QueryErrors {
    #[response(status = 400, description = MALFORMED)]
    Malformed(ErrorBody),
}

/// The documented errors of a route naming one object by its id.
#[derive(utoipa::IntoResponses)]
pub enum IdErrors {
    #[response(status = 400, description = MALFORMED)]
    Malformed(ErrorBody),
    /// No object has this id
    #[response(status = 404)]
    NotFound(ErrorBody),
}

/// The documented errors of a route taking a JSON body.
#[derive(utoipa::IntoResponses)]
pub enum BodyErrors {
    #[response(status = 400, description = MALFORMED)]
    Malformed(ErrorBody),
    /// The body is over the size limit
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// The body is not JSON (`Content-Type: application/json`)
    #[response(status = 415)]
    NotJson(ErrorBody),
    /// Invalid values; `details` names each field
    #[response(status = 422)]
    Invalid(ErrorBody),
}

/// The documented errors of every route that uses the database (or the task queue).
#[derive(utoipa::IntoResponses)]
pub enum ServerErrors {
    /// Something went wrong inside; the log has the cause
    #[response(status = 500)]
    Internal(ErrorBody),
    /// The database or the task queue cannot be reached, the database is busy, or the
    /// service is overloaded (the message says which); try again after `Retry-After`
    #[response(status = 503, headers(("Retry-After" = u64, description = "Seconds to wait before trying again")))]
    Unavailable(ErrorBody),
}

/// The answer to any path no router knows.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

/// The answer to a known path called with a method it does not serve.
pub async fn method_not_allowed() -> ApiError {
    ApiError::from_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// Gives a JSON body to error responses made without one (timeouts, layers, ...).
pub async fn json_error_bodies<B>(response: Response<B>) -> Response
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(header::CONTENT_TYPE)
    {
        return response.map(Body::new);
    }
    let (mut parts, _) = response.into_parts();
    let replacement = ApiError::from_status(status).into_response();
    let (new_parts, body) = replacement.into_parts();
    parts.headers.insert(
        header::CONTENT_TYPE,
        new_parts
            .headers
            .get(header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("application/json")),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}

/// The answer when a handler panicked: a 500 like any other, the panic logged.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = crate::telemetry::reporting::panic_text(panic.as_ref());
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        .with_cause(format!("handler panicked: {detail}"))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn json_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .expect("body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }

    /// Collects the ERROR events logged while `body` runs.
    fn errors_logged(body: impl FnOnce()) -> Vec<crate::telemetry::record::Record> {
        events_logged(tracing::Level::ERROR, body)
    }

    /// Collects the events of `level` logged while `body` runs.
    fn events_logged(
        level: tracing::Level,
        body: impl FnOnce(),
    ) -> Vec<crate::telemetry::record::Record> {
        use std::sync::{Arc, Mutex};
        use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

        #[derive(Clone)]
        struct Capture(
            Arc<Mutex<Vec<crate::telemetry::record::Record>>>,
            tracing::Level,
        );
        impl<S> Layer<S> for Capture
        where
            S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
        {
            fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
                if *event.metadata().level() == self.1 {
                    let record = crate::telemetry::record::Record::new(event, &ctx);
                    self.0.lock().expect("records").push(record);
                }
            }
        }
        let capture = Capture(Arc::default(), level);
        let subscriber = tracing_subscriber::registry().with(capture.clone());
        tracing::subscriber::with_default(subscriber, body);
        capture.0.lock().expect("records").clone()
    }

    // One test for every 5xx log: tracing caches, per call site, whether anyone listens;
    // tests of the same call site running at once would race on that cache.
    #[tokio::test]
    async fn a_panic_and_a_database_error_are_logged_once_with_their_causes() {
        let mut response = None;
        let errors = errors_logged(|| {
            response = Some(panic_response(Box::new("boom")));
        });

        assert_eq!(errors.len(), 1, "one event, so one Sentry report");
        assert_eq!(errors[0].message, "request failed");
        assert_eq!(
            errors[0].get("error"),
            Some(&serde_json::json!("handler panicked: boom"))
        );
        let response = response.expect("a response");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = json_of(response).await;
        assert_eq!(body["error"]["code"], "internal_error");
        assert_eq!(body["error"]["message"], "internal error", "no internals");

        let mut response = None;
        let errors = errors_logged(|| {
            let error = controllers::Error::Database(sea_orm::DbErr::Custom("disk full".into()));
            response = Some(ApiError::from(error).into_response());
        });

        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].get("error"),
            Some(&serde_json::json!("database: Custom Error: disk full"))
        );
        assert_eq!(
            response.map(|r| r.status()),
            Some(StatusCode::INTERNAL_SERVER_ERROR)
        );
    }

    #[tokio::test]
    async fn a_database_outage_is_logged_once_and_its_503s_are_no_errors() {
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("SQLite");
        let health = crate::db::Health::default();
        let mut responses = Vec::new();
        let errors = errors_logged(|| {
            for _ in 0..3 {
                let refused = sea_orm::DbErr::Conn(sea_orm::RuntimeErr::Internal(
                    "connection refused".into(),
                ));
                responses.push(ApiError::from(controllers::Error::from(refused)).into_response());
            }
        });
        let warnings = events_logged(tracing::Level::WARN, || {
            for response in &responses {
                if let Some(DatabaseAway(cause)) = response.extensions().get::<DatabaseAway>() {
                    health.report_down(&db, cause);
                }
            }
        });

        assert!(
            errors.is_empty(),
            "no ERROR (so no Sentry event) per request"
        );
        assert_eq!(warnings.len(), 1, "the outage is logged once");
        assert!(warnings[0].message.contains("database is unreachable"));
        assert!(health.is_down());
        for response in responses {
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        }
        // SQLite answers the ping: the outage ends by itself.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while health.is_down() && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(!health.is_down(), "up again once a ping answers");
    }

    #[test]
    fn a_handler_may_name_its_case_and_the_status_code_is_the_default() {
        let plain = ApiError::new(StatusCode::CONFLICT, "taken");
        assert_eq!(plain.detail.code, "conflict");

        let error = controllers::Error::Conflict {
            code: "name_taken",
            message: "that name is taken".into(),
        };
        let named = ApiError::from(error);
        assert_eq!(named.status(), StatusCode::CONFLICT);
        assert_eq!(named.detail.code, "name_taken");
        assert_eq!(named.detail.message, "that name is taken");
    }

    #[test]
    fn a_503_names_the_dependency_that_is_away() {
        use controllers::Dependency;
        use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr};

        let queue = controllers::Error::unavailable(Dependency::TaskQueue, "connection refused");
        // No connection in time from the pool; a connection refused by the server.
        let timeout = DbErr::ConnectionAcquire(ConnAcquireErr::Timeout);
        let refused = DbErr::Conn(RuntimeErr::Internal("not accepting connections".into()));

        for (error, message) in [
            (queue, "the task queue is unavailable; try again later"),
            // Every pooled connection in use: busy (the outage guard checks for more).
            (timeout.into(), "the database is busy; try again later"),
            (
                refused.into(),
                "the database is unavailable; try again later",
            ),
        ] {
            let cause = error.to_string();
            let error = ApiError::from(error);
            assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(error.detail.code, "unavailable");
            assert_eq!(error.detail.message, message);
            assert_eq!(error.cause, Some(cause), "the log has the inner cause");
        }
        // Other database errors stay 500s.
        let query = DbErr::Query(RuntimeErr::Internal("no such table".into()));
        let error = ApiError::from(controllers::Error::from(query));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn an_empty_error_response_gets_a_json_body_and_keeps_its_headers() {
        let bare = Response::builder()
            .status(StatusCode::REQUEST_TIMEOUT)
            .header("x-request-id", "abc")
            .body(Body::empty())
            .expect("response");

        let response = json_error_bodies(bare).await;

        assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(response.headers()["x-request-id"], "abc");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        assert_eq!(json_of(response).await["error"]["code"], "request_timeout");
    }

    #[tokio::test]
    async fn successes_and_typed_errors_pass_through() {
        let ok = Response::new(Body::from("plain"));
        assert_eq!(json_error_bodies(ok).await.status(), StatusCode::OK);

        let typed = ApiError::bad_request("nope").into_response();
        let body = json_of(json_error_bodies(typed).await).await;
        assert_eq!(body["error"]["message"], "nope");
    }
}
