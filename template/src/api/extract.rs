//! axum's extractors with their rejections turned into [`ApiError`]s.
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON object body; bad bodies get a JSON 400, 413, 415 or 422.
///
/// Only objects: serde would also read a struct from an array (`[null, null]`), which the
/// API's documentation does not allow.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected a body with Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                let status = rejection.status();
                if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(status, "request body is too large")
                } else {
                    ApiError::new(status, rejection.body_text())
                }
            })?;
        let first = bytes.iter().find(|byte| !byte.is_ascii_whitespace());
        if first.is_some_and(|byte| *byte != b'{') {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "the body must be a JSON object",
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Self(value))
    }
}

/// `Content-Type: application/json`, or any `application/...+json`, parameters aside.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query parameters; bad ones get a JSON 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters; bad ones get a JSON 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The request's `X-Request-Id` (always set by the middleware), for work it schedules.
pub struct RequestId(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let id = parts
            .headers
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        Ok(Self(id))
    }
}

/// For the optional fields of a `PATCH` body (with `#[serde(default)]`): left out is
/// `None` (unchanged), `null` is `Some(None)` (cleared), a value is `Some(Some(value))`.
pub fn clearable<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// Serde helpers for JSON numbers: JSON Schema's integers include `38.0`, which serde's
/// `i32` refuses; these accept a number with no fraction that fits.
pub mod whole {
    use serde::{Deserialize, Deserializer, de::Error};

    fn to_i64<E: Error>(number: serde_json::Number) -> Result<i64, E> {
        number
            .as_i64()
            .or_else(|| {
                number
                    .as_f64()
                    .filter(|float| float.fract() == 0.0 && float.abs() < 1e15)
                    .map(|float| float as i64)
            })
            .ok_or_else(|| E::custom(format!("expected a whole number, got {number}")))
    }

    fn to_i32<E: Error>(number: serde_json::Number) -> Result<i32, E> {
        let shown = number.to_string();
        to_i64::<E>(number)
            .ok()
            .and_then(|value| i32::try_from(value).ok())
            .ok_or_else(|| E::custom(format!("expected a whole number, got {shown}")))
    }

    /// For `i32` fields: `#[serde(deserialize_with = "whole::i32")]`.
    pub fn i32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i32, D::Error> {
        to_i32(serde_json::Number::deserialize(deserializer)?)
    }

    /// For `Option<i32>` fields (with `#[serde(default)]`).
    pub fn optional_i32<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i32>, D::Error> {
        Option::<serde_json::Number>::deserialize(deserializer)?
            .map(to_i32)
            .transpose()
    }

    /// For `Option<Option<i32>>` fields of a `PATCH` (see [`super::clearable`]).
    pub fn clearable_i32<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<i32>>, D::Error> {
        optional_i32(deserializer).map(Some)
    }

    /// For `i64` fields: `#[serde(deserialize_with = "whole::i64")]`.
    pub fn i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
        to_i64(serde_json::Number::deserialize(deserializer)?)
    }

    /// For `Option<i64>` fields (with `#[serde(default)]`).
    pub fn optional_i64<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<i64>, D::Error> {
        Option::<serde_json::Number>::deserialize(deserializer)?
            .map(to_i64)
            .transpose()
    }

    /// For `Option<Option<i64>>` fields of a `PATCH` (see [`super::clearable`]).
    pub fn clearable_i64<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Option<i64>>, D::Error> {
        optional_i64(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::whole;

    #[derive(serde::Deserialize)]
    struct Age {
        #[serde(deserialize_with = "whole::i32")]
        age: i32,
    }

    #[test]
    fn whole_numbers_may_be_written_with_a_zero_fraction() {
        let parse = |json: &str| serde_json::from_str::<Age>(json).map(|a| a.age);
        assert_eq!(parse(r#"{"age": 38}"#).ok(), Some(38));
        assert_eq!(parse(r#"{"age": 38.0}"#).ok(), Some(38));
        assert_eq!(parse(r#"{"age": -1}"#).ok(), Some(-1));
        assert!(parse(r#"{"age": 38.5}"#).is_err());
        assert!(parse(r#"{"age": 3000000000}"#).is_err());
        assert!(parse(r#"{"age": "38"}"#).is_err());
    }

    #[derive(serde::Deserialize)]
    struct Change {
        #[serde(default, deserialize_with = "whole::clearable_i64")]
        count: Option<Option<i64>>,
        #[serde(default, deserialize_with = "super::clearable")]
        note: Option<Option<String>>,
    }

    #[test]
    fn clearable_fields_tell_left_out_from_null() {
        let parse = |json: &str| serde_json::from_str::<Change>(json).expect(json);
        let left_out = parse("{}");
        assert_eq!((left_out.count, left_out.note), (None, None));
        let cleared = parse(r#"{"count": null, "note": null}"#);
        assert_eq!((cleared.count, cleared.note), (Some(None), Some(None)));
        let set = parse(r#"{"count": 9007199254740993, "note": "x"}"#);
        assert_eq!(set.count, Some(Some(9_007_199_254_740_993)));
        assert_eq!(set.note, Some(Some("x".into())));
        assert!(serde_json::from_str::<Change>(r#"{"count": 1.5}"#).is_err());
    }
}
