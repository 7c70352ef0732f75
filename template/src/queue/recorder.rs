//! Writes when tasks start and succeed: one statement per task in eager mode, grouped
//! statements in a worker (see [`super::batch`]).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use uuid::Uuid;

use super::batch::Batcher;
use super::message::InstanceId;
use super::store::{self, Run, Start};
use super::{Broker, QueueError};
use crate::db::Health;

/// A task's state could not be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// The database failed (shared by every task of the batch).
    #[error(transparent)]
    Database(Arc<DbErr>),
    /// Redis, asked whether the worker of another run lives, did not answer.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The batching writer is gone (the worker is stopping).
    #[error("the task recorder stopped")]
    Stopped,
}

impl RecordError {
    /// The database failed, as `health` is told (so that, if it is away, the pool pings
    /// the connections idle since).
    pub fn database(error: DbErr, health: &Health) -> Self {
        health.note(&error);
        Self::Database(Arc::new(error))
    }
}

/// What became of a run's success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    Written,
    /// Another run took the task over: nothing was written.
    Superseded,
    /// The database refused this result alone (the cause, for the logs).
    Rejected(String),
}

/// The tasks a worker runs right now: what it knows of its own runs better than Redis.
#[derive(Clone, Default)]
pub struct Running(Arc<Mutex<HashSet<Uuid>>>);

impl Running {
    fn insert(&self, task: Uuid) {
        if let Ok(mut running) = self.0.lock() {
            running.insert(task);
        }
    }

    /// The run of `task` has ended.
    pub fn remove(&self, task: Uuid) {
        if let Ok(mut running) = self.0.lock() {
            running.remove(&task);
        }
    }

    fn contains(&self, task: Uuid) -> bool {
        self.0.lock().is_ok_and(|running| running.contains(&task))
    }
}

type Starts = Batcher<Uuid, Result<Start, RecordError>>;
type Successes = Batcher<(Run, Value), Result<Recorded, RecordError>>;

/// Records starts and successes, directly or in batches.
#[derive(Clone)]
pub struct Recorder {
    db: DatabaseConnection,
    health: Health,
    batched: Option<(Starts, Successes)>,
}

impl Recorder {
    /// One statement per write (eager mode).
    pub fn direct(db: DatabaseConnection, health: Health) -> Self {
        Self {
            db,
            health,
            batched: None,
        }
    }

    /// Groups the writes of the tasks `worker` starts or finishes together. A task held
    /// by another run is taken over when that run is over: Redis (`broker`) says its
    /// worker is dead or gave it up, or it was this worker's and is not in `running`.
    /// The tasks started are added to `running` (the worker removes them).
    pub fn batched(
        db: DatabaseConnection,
        health: Health,
        broker: Broker,
        worker: InstanceId,
        running: Running,
    ) -> Self {
        let starts = {
            let (db, health) = (db.clone(), health.clone());
            Batcher::start(move |ids: Vec<Uuid>| {
                let (db, health) = (db.clone(), health.clone());
                let (broker, worker) = (broker.clone(), worker.clone());
                let running = running.clone();
                async move {
                    match start(&db, &health, &broker, &worker, &running, &ids).await {
                        Ok(starts) => starts.into_iter().map(Ok).collect(),
                        Err(error) => vec![Err(error); ids.len()],
                    }
                }
            })
        };
        let successes = {
            let (db, health) = (db.clone(), health.clone());
            Batcher::start(move |results: Vec<(Run, Value)>| {
                let (db, health) = (db.clone(), health.clone());
                async move { succeed(&db, &health, results).await }
            })
        };
        Self {
            db,
            health,
            batched: Some((starts, successes)),
        }
    }

    /// A failed write of a task's state, the database noted (see [`RecordError::database`]).
    pub fn database_error(&self, error: DbErr) -> RecordError {
        RecordError::database(error, &self.health)
    }

    /// Marks a task started, unless it finished already or another live run holds it;
    /// says whether to run it.
    pub async fn start(&self, id: Uuid) -> Result<Start, RecordError> {
        match &self.batched {
            None => Ok(store::start(&self.db, &[id], None)
                .await
                .map_err(|error| self.database_error(error))?
                .pop()
                .unwrap_or(Start::Missing)),
            Some((starts, _)) => starts.write(id).await.unwrap_or(Err(RecordError::Stopped)),
        }
    }

    /// Returns once the success of `run` is committed, or known not to be.
    pub async fn succeeded(&self, run: Run, result: Value) -> Result<Recorded, RecordError> {
        match &self.batched {
            None => Ok(succeed(&self.db, &self.health, vec![(run, result)])
                .await
                .pop()
                .unwrap_or(Err(RecordError::Stopped))?),
            Some((_, successes)) => successes
                .write((run, result))
                .await
                .unwrap_or(Err(RecordError::Stopped)),
        }
    }
}

/// Marks tasks started by `worker`; of those another run holds, takes over the ones whose
/// run is over (see [`Recorder::batched`]) and leaves the others to their run.
async fn start(
    db: &DatabaseConnection,
    health: &Health,
    broker: &Broker,
    worker: &InstanceId,
    running: &Running,
    ids: &[Uuid],
) -> Result<Vec<Start>, RecordError> {
    let noted = |error: DbErr| RecordError::database(error, health);
    let mut starts = store::start(db, ids, Some(worker.as_str()))
        .await
        .map_err(noted)?;
    if starts
        .iter()
        .any(|start| matches!(start, Start::Held { .. }))
    {
        // Rare: a second delivery, after a worker's death or beside a live run.
        let others: Vec<(String, Uuid, i32)> = starts
            .iter()
            .filter_map(|start| match start {
                Start::Held {
                    run,
                    worker: Some(holder),
                } if holder != worker.as_str() => Some((holder.clone(), run.task, run.attempt)),
                _ => None,
            })
            .collect();
        let mut alive = broker.alive(&others).await?.into_iter();
        for start in &mut starts {
            let Start::Held {
                run,
                worker: holder,
            } = start
            else {
                continue;
            };
            let run_lives = match holder.as_deref() {
                Some(holder) if holder == worker.as_str() => running.contains(run.task),
                Some(_) => alive.next().unwrap_or(true),
                // A run of an older version names no worker: presumed dead, as it was then.
                None => false,
            };
            if run_lives {
                *start = Start::Busy;
                continue;
            }
            let taken = store::take_over(db, *run, Some(worker.as_str())).await;
            *start = match taken.map_err(noted)? {
                Some(taken) => {
                    tracing::warn!(task_id = %taken.task, from = holder.as_deref().unwrap_or("-"), "took over a task whose run is over (its worker presumed dead, or it gave the run up)");
                    Start::Run(taken)
                }
                // It moved on meanwhile (ended, or another worker took it over): look later.
                None => Start::Busy,
            };
        }
    }
    for start in &starts {
        if let Start::Run(run) = start {
            running.insert(run.task);
        }
    }
    Ok(starts)
}

/// Records successes in one statement; if one result spoils it (a value the database
/// refuses), each alone, so that the others are not failed by it.
async fn succeed(
    db: &DatabaseConnection,
    health: &Health,
    results: Vec<(Run, Value)>,
) -> Vec<Result<Recorded, RecordError>> {
    let written = |recorded: &std::collections::HashSet<Uuid>, run: &Run| {
        if recorded.contains(&run.task) {
            Recorded::Written
        } else {
            Recorded::Superseded
        }
    };
    match store::mark_succeeded_many(db, &results).await {
        Ok(recorded) => results
            .iter()
            .map(|(run, _)| Ok(written(&recorded, run)))
            .collect(),
        Err(error) if health.note(&error) => {
            vec![Err(RecordError::Database(Arc::new(error))); results.len()]
        }
        Err(error) if results.len() == 1 => vec![Ok(Recorded::Rejected(error.to_string()))],
        Err(_) => {
            let mut each = Vec::with_capacity(results.len());
            for result in results {
                let run = result.0;
                each.push(match store::mark_succeeded_many(db, &[result]).await {
                    Ok(recorded) => Ok(written(&recorded, &run)),
                    Err(error) if health.note(&error) => {
                        Err(RecordError::Database(Arc::new(error)))
                    }
                    Err(error) => Ok(Recorded::Rejected(error.to_string())),
                });
            }
            each
        }
    }
}
