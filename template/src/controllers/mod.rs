//! The service's logic, shared by every API version and by the background tasks.
//!
//! Controllers take plain Rust values, talk to the models and return plain Rust values or
//! an [`Error`]; they know nothing of HTTP.
use std::fmt;

use sea_orm::{DbErr, RuntimeErr, SqlErr};

pub mod birthdays;
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
    /// The database answers but had no time for this (see [`crate::db::Busy`]); trying
    /// later may work.
    #[error("the database is busy: {cause}")]
    Busy {
        reason: crate::db::Busy,
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

/// Whether the database refused a write for a foreign key: the row deleted is still
/// referred to, or the row referred to does not exist.
pub fn is_foreign_key_violation(error: &DbErr) -> bool {
    if let Some(SqlErr::ForeignKeyConstraintViolation(_)) = error.sql_err() {
        return true;
    }
    // SQLite refuses a delete that `ON DELETE RESTRICT` forbids as a trigger's constraint
    // (extended code 1811), which sea-orm does not sort with the foreign keys.
    let (DbErr::Exec(RuntimeErr::SqlxError(cause)) | DbErr::Query(RuntimeErr::SqlxError(cause))) =
        error
    else {
        return false;
    };
    cause.as_database_error().is_some_and(|database| {
        database.code().as_deref() == Some("1811")
            && database.message().contains("FOREIGN KEY constraint failed")
    })
}

/// Sorts a database failure: away, busy, or wrong. Only sorts: the API's outage guard
/// takes note of an outage from the answer (see `api::middleware::outage`).
impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        if crate::db::unreachable(&error) {
            Self::unavailable(Dependency::Database, error)
        } else if let Some(reason) = crate::db::busy(&error) {
            Self::Busy {
                reason,
                cause: error.to_string(),
            }
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

impl Page {
    /// The rows before this page, to skip.
    pub fn offset(&self) -> u64 {
        self.number.saturating_sub(1).saturating_mul(self.per_page)
    }

    /// The rows to read: one more than a page, which tells whether a next page exists
    /// without counting (see [`Paged::from_rows`]).
    pub fn rows_to_fetch(&self) -> u64 {
        self.per_page.saturating_add(1)
    }
}

/// One page of results and whether more follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub page: Page,
    pub has_next: bool,
}

impl<T> Paged<T> {
    /// The page of `rows`, read with [`Page::rows_to_fetch`]: a row past the page means
    /// a next page, and is left out.
    pub fn from_rows(mut rows: Vec<T>, page: Page) -> Self {
        let has_next = rows.len() as u64 > page.per_page;
        rows.truncate(usize::try_from(page.per_page).unwrap_or(usize::MAX));
        Self {
            items: rows,
            page,
            has_next,
        }
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, Database, TransactionTrait};

    use super::*;

    #[test]
    fn a_page_reads_one_row_more_to_know_whether_another_follows() {
        let page = Page {
            number: 3,
            per_page: 20,
        };
        assert_eq!((page.offset(), page.rows_to_fetch()), (40, 21));
        let full = Paged::from_rows((0..21).collect(), page);
        assert!(full.has_next && full.items.len() == 20);
        let last = Paged::from_rows((0..20).collect(), page);
        assert!(!last.has_next && last.items.len() == 20);
        let deep = Page {
            number: u64::MAX,
            per_page: u64::MAX,
        };
        assert_eq!((deep.offset(), deep.rows_to_fetch()), (u64::MAX, u64::MAX));
    }

    #[tokio::test]
    async fn a_foreign_key_s_refusal_is_seen_on_sqlite_too() {
        let db = Database::connect("sqlite::memory:").await.expect("SQLite");
        // One connection (each of an in-memory pool has its own database); sqlx turns
        // foreign keys on.
        let db = db.begin().await.expect("a transaction");
        for sql in [
            "CREATE TABLE a (id INTEGER PRIMARY KEY)",
            "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER NOT NULL \
             REFERENCES a (id) ON DELETE RESTRICT)",
            "INSERT INTO a VALUES (1)",
            "INSERT INTO b VALUES (1, 1)",
        ] {
            db.execute_unprepared(sql).await.expect(sql);
        }
        let restricted = db.execute_unprepared("DELETE FROM a WHERE id = 1").await;
        assert!(is_foreign_key_violation(&restricted.expect_err("refused")));
        let missing = db.execute_unprepared("INSERT INTO b VALUES (2, 7)").await;
        assert!(is_foreign_key_violation(&missing.expect_err("refused")));
        let other = db.execute_unprepared("INSERT INTO a VALUES (1)").await;
        assert!(!is_foreign_key_violation(&other.expect_err("a duplicate")));
    }
}
