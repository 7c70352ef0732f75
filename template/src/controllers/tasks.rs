//! Scheduling background tasks and following their progress.
//!
//! `schedule_task`, `schedule_chain` and `schedule_many` are the only ways to start
//! background work: the engine (`crate::queue`) writes each task's row (so its progress
//! can be asked for at once) before handing the task to the queue.
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use super::{Dependency, Error};
use crate::models::task;
use crate::queue::{JobCall, Origin, Queue, ScheduleError, store};

/// Schedules one task; returns its row. `origin` is the scheduling request's id and caller
/// (an `Option<String>` gives the request id alone).
pub async fn schedule_task(
    queue: &Queue,
    call: JobCall,
    origin: impl Into<Origin>,
) -> Result<task::Model, Error> {
    let mut rows = schedule(queue, vec![vec![call]], origin.into()).await?;
    rows.pop()
        .ok_or_else(|| Error::Internal("no task was written".into()))
}

/// Schedules tasks that run one after the other, each only if the one before succeeded;
/// returns their rows in order. The first task's id is the chain's id.
pub async fn schedule_chain(
    queue: &Queue,
    calls: Vec<JobCall>,
    origin: impl Into<Origin>,
) -> Result<Vec<task::Model>, Error> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    schedule(queue, vec![calls], origin.into()).await
}

/// Schedules independent tasks in one database write and one queue push.
pub async fn schedule_many(
    queue: &Queue,
    calls: Vec<JobCall>,
    origin: impl Into<Origin>,
) -> Result<Vec<task::Model>, Error> {
    let chains = calls.into_iter().map(|call| vec![call]).collect();
    schedule(queue, chains, origin.into()).await
}

async fn schedule(
    queue: &Queue,
    chains: Vec<Vec<JobCall>>,
    origin: Origin,
) -> Result<Vec<task::Model>, Error> {
    queue
        .schedule(chains, origin)
        .await
        .map_err(|error| match error {
            ScheduleError::Database(error) => Error::from(error),
            ScheduleError::Queue(error) => Error::unavailable(Dependency::TaskQueue, error),
        })
}

/// Finds a task by id.
pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<task::Model, Error> {
    store::find(db, id).await?.ok_or_else(|| Error::NotFound {
        resource: "task",
        id: id.to_string(),
    })
}

/// Deletes finished tasks older than `before`; returns how many.
pub async fn purge_finished(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, Error> {
    Ok(store::purge_finished(db, before).await?)
}
