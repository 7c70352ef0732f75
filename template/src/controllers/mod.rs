//! The service's logic, shared by every API version and by the background tasks.
//!
//! Controllers take plain Rust values, talk to the models and return plain Rust values or
//! an [`Error`]; they know nothing of HTTP.
use std::fmt;

use sea_orm::DbErr;

pub mod persons;
pub mod tasks;
pub mod validation;

pub use validation::{Checks, TEXT_PATTERN, text_rule};

/// What a controller can fail with; the API maps each kind to a status.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    #[error("invalid input")]
    Invalid(Vec<FieldError>),
    /// The input is valid but clashes with what is stored; `code` tells clients which
    /// clash (`name_taken`, ...), `message` says it for people.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("database error: {0}")]
    Database(DbErr),
    /// A service this needs cannot be reached; trying later may work.
    #[error("{dependency} is unavailable: {cause}")]
    Unavailable {
        dependency: Dependency,
        cause: String,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// `dependency` cannot be reached, for `cause`.
    pub fn unavailable(dependency: Dependency, cause: impl fmt::Display) -> Self {
        Self::Unavailable {
            dependency,
            cause: cause.to_string(),
        }
    }
}

impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        if crate::db::note_failure(&error) {
            Self::unavailable(Dependency::Database, error)
        } else {
            Self::Database(error)
        }
    }
}

/// A service the controllers need, named in the errors when it cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependency {
    Database,
    TaskQueue,
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Database => "the database",
            Self::TaskQueue => "the task queue",
        })
    }
}

/// One rejected input field (the `details` of a 422).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct FieldError {
    #[schema(example = "age")]
    pub field: &'static str,
    #[schema(example = "must be between 0 and 150")]
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
