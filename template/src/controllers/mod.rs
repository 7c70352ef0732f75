//! The service's logic, shared by every API version and by the background tasks.
//!
//! Controllers take plain Rust values, talk to the models and return plain Rust values or
//! an [`Error`]; they know nothing of HTTP.
use sea_orm::DbErr;

pub mod check;
pub mod persons;
pub mod tasks;

/// What a controller can fail with; the API maps each kind to a status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The change contradicts the data as it stands (a row others still refer to).
    #[error("{0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// A service this needs (the task queue) cannot be reached; trying later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

/// One rejected input field.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Which slice of a list to return: page `number` (from 1) of `per_page` items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u64,
    pub per_page: u64,
}

/// One page of results and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: Page,
    pub has_next: bool,
}
