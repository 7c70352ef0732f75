//! Writes tasks' successes, grouping those that finish together into one statement.
//!
//! A busy worker finishes many tasks at once; one `UPDATE` for all of them costs about
//! what one costs alone. The recorder writes whatever has accumulated while its previous
//! write was in flight, so a lone task waits for nothing.
use sea_orm::{DatabaseConnection, DbErr};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::controllers::tasks as controller;

/// Most successes written by one statement.
const MAX_BATCH: usize = 512;

type Done = oneshot::Sender<Result<(), String>>;

/// Records successes directly, or through a batching writer.
#[derive(Clone)]
pub struct Recorder {
    db: DatabaseConnection,
    batches: Option<mpsc::Sender<(Uuid, Value, Done)>>,
}

impl Recorder {
    /// One statement per success (eager mode).
    pub fn direct(db: DatabaseConnection) -> Self {
        Self { db, batches: None }
    }

    /// Groups successes; the writer lives as long as a clone of the recorder does.
    pub fn batched(db: DatabaseConnection) -> Self {
        let (sender, receiver) = mpsc::channel(MAX_BATCH * 4);
        tokio::spawn(write_batches(db.clone(), receiver));
        Self {
            db,
            batches: Some(sender),
        }
    }

    /// Returns once the success of `id` is committed.
    pub async fn succeeded(&self, id: Uuid, result: Value) -> Result<(), DbErr> {
        let Some(batches) = &self.batches else {
            return controller::mark_succeeded_many(&self.db, &[(id, result)]).await;
        };
        let (done, written) = oneshot::channel();
        let gone = || DbErr::Custom("the task recorder stopped".into());
        batches.send((id, result, done)).await.map_err(|_| gone())?;
        written.await.map_err(|_| gone())?.map_err(DbErr::Custom)
    }
}

async fn write_batches(db: DatabaseConnection, mut receiver: mpsc::Receiver<(Uuid, Value, Done)>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (results, waiters): (Vec<(Uuid, Value)>, Vec<Done>) = batch
            .drain(..)
            .map(|(id, value, done)| ((id, value), done))
            .unzip();
        let outcome = controller::mark_succeeded_many(&db, &results)
            .await
            .map_err(|e| e.to_string());
        for waiter in waiters {
            let _ = waiter.send(outcome.clone());
        }
    }
}
