//! The service's tasks: background work, each a type implementing [`Job`](crate::queue::Job) (a name, typed
//! arguments, a body), run by the engine in `src/queue/`.
//!
//! A task calls controllers for its work, like a view does; to add one, write its file
//! here and add one line to [`registry`]. Views schedule a task with its own helper (see
//! [`persons::schedule_birthday`]), which calls `controllers::tasks::schedule_task`.
use std::sync::LazyLock;

use crate::controllers;
use crate::queue::{JobError, Registry};

pub mod maintenance;
pub mod persons;

/// Every task of the service: add yours here, one line each.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        Registry::default()
            .register::<persons::AddOneYear>()
            .register::<maintenance::PurgeFinished>()
            .register::<maintenance::Ping>()
        // `cargo xtask new task` registers new tasks above this line.
    });
    &REGISTRY
}

/// A controller's failure, as a task's: what retrying cannot fix fails the task at once.
impl From<controllers::Error> for JobError {
    fn from(error: controllers::Error) -> Self {
        match error {
            controllers::Error::NotFound { .. }
            | controllers::Error::Invalid(_)
            | controllers::Error::Conflict { .. } => Self::Unrecoverable(error.to_string()),
            _ => Self::Failed(error.to_string()),
        }
    }
}
