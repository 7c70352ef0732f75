//! Scheduling on Redis: the rows and messages of concurrent `schedule` calls, written in
//! one statement and pushed in one script (see [`super::batch`]).
use std::sync::{Arc, OnceLock};

use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::batch::Batcher;
use super::{Broker, Message, QueueError, ScheduleError, store};
use crate::db::Health;
use crate::metrics::{self, TaskEvent};
use crate::models::task;

/// The rows and messages of one `schedule` call, written with those of concurrent calls.
struct Scheduling {
    rows: Vec<task::Model>,
    messages: Vec<Message>,
}

type Writer = Batcher<Scheduling, Result<(), ScheduleError>>;

/// Hands tasks over to the Redis queue; cheap to clone.
#[derive(Clone)]
pub(super) struct Scheduler {
    db: DatabaseConnection,
    health: Health,
    broker: Broker,
    /// Writes the rows and pushes the messages of concurrent calls together (started on
    /// the first call, which runs on the runtime it will live on).
    writer: Arc<OnceLock<Writer>>,
}

impl Scheduler {
    pub(super) fn new(db: DatabaseConnection, health: Health, broker: Broker) -> Self {
        Self {
            db,
            health,
            broker,
            writer: Arc::default(),
        }
    }

    pub(super) fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Writes `rows` and pushes `messages` with those of the calls made meanwhile: a lone
    /// call waits for nothing, a crowd shares one statement and one push (one commit for
    /// all). Returns the rows, pending.
    pub(super) async fn schedule(
        &self,
        rows: Vec<task::Model>,
        messages: Vec<Message>,
    ) -> Result<Vec<task::Model>, ScheduleError> {
        let writer = self.writer.get_or_init(|| {
            let (db, health, broker) = (self.db.clone(), self.health.clone(), self.broker.clone());
            Batcher::start(move |batch: Vec<Scheduling>| {
                let (db, health, broker) = (db.clone(), health.clone(), broker.clone());
                async move { write_and_push(&db, &health, &broker, batch).await }
            })
        });
        let scheduling = Scheduling {
            rows: rows.clone(),
            messages,
        };
        match writer.write(scheduling).await {
            Some(written) => written.map(|()| rows),
            None => Err(QueueError::Stopped("scheduler").into()),
        }
    }
}

/// Writes the rows of the tasks of concurrent `schedule` calls in one statement, then
/// pushes their messages in one script; says for each call how it went. Rows that cannot
/// be queued are marked failed rather than left pending.
///
/// One call's input never fails another's: if the shared statement fails while the
/// database answers (a value it refuses, say), each call's rows are written alone, and
/// only the calls whose own rows fail get the error.
async fn write_and_push(
    db: &DatabaseConnection,
    health: &Health,
    broker: &Broker,
    batch: Vec<Scheduling>,
) -> Vec<Result<(), ScheduleError>> {
    // Every call's rows and messages, end to end, and where each call's are.
    let mut rows = Vec::new();
    let mut messages = Vec::new();
    let mut spans = Vec::with_capacity(batch.len());
    for scheduling in batch {
        let (row, message) = (rows.len(), messages.len());
        rows.extend(scheduling.rows);
        messages.extend(scheduling.messages);
        spans.push((row..rows.len(), message..messages.len()));
    }
    let mut results: Vec<Result<(), ScheduleError>> = match store::insert(db, &rows).await {
        Ok(()) => vec![Ok(()); spans.len()],
        Err(error) if health.note(&error) || spans.len() == 1 => {
            vec![Err(error.into()); spans.len()]
        }
        Err(_) => {
            let mut each = Vec::with_capacity(spans.len());
            for (span, _) in &spans {
                each.push(
                    store::insert(db, &rows[span.clone()])
                        .await
                        .map_err(ScheduleError::from),
                );
            }
            each
        }
    };
    let written = |index: &usize| results[*index].is_ok();
    let queued: Vec<usize> = (0..spans.len()).filter(written).collect();
    if queued.is_empty() {
        return results;
    }
    let pushed = if queued.len() == spans.len() {
        broker.push(&messages).await
    } else {
        let some: Vec<Message> = queued
            .iter()
            .flat_map(|index| messages[spans[*index].1.clone()].iter().cloned())
            .collect();
        broker.push(&some).await
    };
    let queued_rows = || {
        queued
            .iter()
            .flat_map(|index| &rows[spans[*index].0.clone()])
    };
    count_scheduled(queued_rows());
    if let Err(error) = pushed {
        // Not queued, so never run: say so in the rows rather than leave them pending.
        // A warning: each caller turns the error into its own ERROR (one report each).
        tracing::warn!(%error, "cannot queue tasks");
        let ids: Vec<Uuid> = queued_rows().map(|row| row.id).collect();
        let _ = store::fail_unqueued(db, &ids).await;
        for index in queued {
            results[index] = Err(error.clone().into());
        }
    }
    results
}

/// Counts scheduled tasks, one metrics update per run of rows with the same name.
pub(super) fn count_scheduled<'a>(rows: impl Iterator<Item = &'a task::Model>) {
    let metrics = metrics::global();
    let mut rows = rows.peekable();
    while let Some(row) = rows.next() {
        let mut count = 1;
        while rows.next_if(|next| next.name == row.name).is_some() {
            count += 1;
        }
        metrics.tasks(&row.name, TaskEvent::Scheduled, count);
    }
}
