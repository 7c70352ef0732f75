//! Writes when tasks start and succeed: one statement per task in eager mode, grouped
//! statements in a worker (see [`super::batch`]).
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use uuid::Uuid;

use super::batch::Batcher;
use crate::controllers::tasks::{self as controller, Start};

type Starts = Batcher<Uuid, Result<Start, String>>;
type Successes = Batcher<(Uuid, Value), Result<(), String>>;

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
                    match start_all(&db, &ids).await {
                        Ok(starts) => starts.into_iter().map(Ok).collect(),
                        Err(error) => vec![Err(error.to_string()); ids.len()],
                    }
                }
            })
        };
        let successes = {
            let db = db.clone();
            Batcher::start(move |results: Vec<(Uuid, Value)>| {
                let db = db.clone();
                async move {
                    let written = controller::mark_succeeded_many(&db, &results)
                        .await
                        .map_err(|e| e.to_string());
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
    pub async fn start(&self, id: Uuid) -> Result<Start, DbErr> {
        match &self.batched {
            None => Ok(start_all(&self.db, &[id])
                .await?
                .pop()
                .unwrap_or(Start::Missing)),
            Some((starts, _)) => flatten(starts.write(id).await),
        }
    }

    /// Returns once the success of `id` is committed.
    pub async fn succeeded(&self, id: Uuid, result: Value) -> Result<(), DbErr> {
        match &self.batched {
            None => controller::mark_succeeded_many(&self.db, &[(id, result)]).await,
            Some((_, successes)) => flatten(successes.write((id, result)).await),
        }
    }
}

/// Marks tasks started in one statement; says for each whether to run it.
async fn start_all(db: &DatabaseConnection, ids: &[Uuid]) -> Result<Vec<Start>, DbErr> {
    let started: std::collections::HashSet<Uuid> = controller::mark_started(db, ids)
        .await?
        .into_iter()
        .collect();
    let mut starts = Vec::with_capacity(ids.len());
    for id in ids {
        starts.push(if started.contains(id) {
            Start::Run
        } else {
            match controller::why_not_started(db, *id).await? {
                // Not finished, yet not startable: only a race with another start.
                Start::Run => Start::Finished(crate::models::task::State::Started),
                other => other,
            }
        });
    }
    Ok(starts)
}

fn flatten<T>(written: Option<Result<T, String>>) -> Result<T, DbErr> {
    match written {
        Some(result) => result.map_err(DbErr::Custom),
        None => Err(DbErr::Custom("the task recorder stopped".into())),
    }
}
