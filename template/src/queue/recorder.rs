//! Writes when tasks start and succeed: one statement per task in eager mode, grouped
//! statements in a worker (see [`super::batch`]).
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use uuid::Uuid;

use super::batch::Batcher;
use super::store::{self, Start};

/// A task's state could not be written.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordError {
    /// The database failed (shared by every task of the batch).
    #[error(transparent)]
    Database(Arc<DbErr>),
    /// The batching writer is gone (the worker is stopping).
    #[error("the task recorder stopped")]
    Stopped,
}

impl From<DbErr> for RecordError {
    fn from(error: DbErr) -> Self {
        crate::db::note_failure(&error);
        Self::Database(Arc::new(error))
    }
}

type Starts = Batcher<Uuid, Result<Start, RecordError>>;
type Successes = Batcher<(Uuid, Value), Result<(), RecordError>>;

/// Records starts and successes, directly or in batches.
#[derive(Clone)]
pub struct Recorder {
    db: DatabaseConnection,
    batched: Option<(Starts, Successes)>,
}

impl Recorder {
    /// One statement per write (eager mode).
    pub fn direct(db: DatabaseConnection) -> Self {
        Self { db, batched: None }
    }

    /// Groups the writes of tasks that start or succeed together.
    pub fn batched(db: DatabaseConnection) -> Self {
        let starts = {
            let db = db.clone();
            Batcher::start(move |ids: Vec<Uuid>| {
                let db = db.clone();
                async move {
                    match store::start(&db, &ids).await {
                        Ok(starts) => starts.into_iter().map(Ok).collect(),
                        Err(error) => vec![Err(RecordError::from(error)); ids.len()],
                    }
                }
            })
        };
        let successes = {
            let db = db.clone();
            Batcher::start(move |results: Vec<(Uuid, Value)>| {
                let db = db.clone();
                async move {
                    let written = store::mark_succeeded_many(&db, &results)
                        .await
                        .map_err(RecordError::from);
                    vec![written; results.len()]
                }
            })
        };
        Self {
            db,
            batched: Some((starts, successes)),
        }
    }

    /// Marks a task started, unless it finished already; says whether to run it.
    pub async fn start(&self, id: Uuid) -> Result<Start, RecordError> {
        match &self.batched {
            None => Ok(store::start(&self.db, &[id])
                .await?
                .pop()
                .unwrap_or(Start::Missing)),
            Some((starts, _)) => starts.write(id).await.unwrap_or(Err(RecordError::Stopped)),
        }
    }

    /// Returns once the success of `id` is committed.
    pub async fn succeeded(&self, id: Uuid, result: Value) -> Result<(), RecordError> {
        match &self.batched {
            None => Ok(store::mark_succeeded_many(&self.db, &[(id, result)]).await?),
            Some((_, successes)) => successes
                .write((id, result))
                .await
                .unwrap_or(Err(RecordError::Stopped)),
        }
    }
}
