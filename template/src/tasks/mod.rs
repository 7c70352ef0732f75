//! The service's tasks: background work, each a type implementing [`Job`](crate::queue::Job) (a name, typed
//! arguments, a body), run by the engine in `src/queue/`.
//!
//! A task calls controllers for its work, like a view does; to add one, write its file
//! here and add one line to [`registry`]. Views schedule a task with its own helper (see
//! [`persons::schedule_birthday`]), which calls `controllers::tasks::schedule_task`.
use std::sync::LazyLock;

use sea_orm::DatabaseConnection;

use crate::config::Settings;
use crate::controllers;
use crate::db::Health;
use crate::queue::{JobError, Queue, QueueError, Registry};

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

/// The service's task queue on `db` (whose `health` it reports to): Redis or in-process
/// as `settings` say, running every task of [`registry`]. `serve`, `worker` and `beat`
/// (and the bench and the tests) build theirs here.
pub fn queue(
    db: DatabaseConnection,
    health: &Health,
    settings: &Settings,
) -> Result<Queue, QueueError> {
    Queue::new(db, health, &settings.redis, &settings.tasks, registry())
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
