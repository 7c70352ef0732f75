//! axum's extractors with their rejections turned into [`ApiError`]s.
use axum::extract::{FromRequest, FromRequestParts};

use super::error::ApiError;

/// A JSON body; bad bodies get a JSON 400, 413, 415 or 422.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

/// Query parameters; bad ones get a JSON 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters; bad ones get a JSON 400.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);
