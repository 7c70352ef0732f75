//! The task engine: scheduling, the Redis queue, `worker`, `beat`, and the task rows.
//!
//! Words, each for one thing:
//! - a **job** is a kind of background work: a type implementing [`Job`] (a name, typed
//!   arguments, a body). The service's jobs are its tasks, in `src/tasks/`, listed in the
//!   [`Registry`] given to [`Queue::new`];
//! - a **task** is one scheduled run of a job, with its row in the `tasks` table
//!   (`models::task`, written only by [`store`]), shown at `/v1/tasks/{id}`;
//! - a [`JobCall`] is a job with its arguments, ready to become a task;
//! - a [`Message`] is what the Redis queue carries for one attempt of a task;
//! - the [`Queue`] is where tasks are scheduled: the Redis [`Broker`], or in-process
//!   execution when no Redis is configured or `tasks.eager` is set (the same code path,
//!   minus the broker).
//!
//! The engine knows no task of the service and calls no controller: controllers schedule
//! through `controllers::tasks`, which calls [`Queue::schedule`].
use std::sync::{Arc, OnceLock};

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::config::{RedisSettings, TaskSettings};
use crate::metrics::{self, TaskEvent};
use crate::models::task;

mod batch;
pub mod beat;
pub mod broker;
pub mod job;
pub mod message;
mod recorder;
pub mod requeue;
mod runner;
pub mod store;
pub mod worker;

use batch::Batcher;
pub use broker::{Broker, Keys, QueueError};
pub use job::{DEFAULT_MAX_RETRIES, Entry, Job, JobCall, JobContext, JobError, Registry};
pub use message::{Encoded, InstanceId, Message};

/// Why tasks could not be scheduled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ScheduleError {
    /// Their rows could not be written.
    #[error("database error: {0}")]
    Database(#[from] DbErr),
    /// Their rows were written (and marked failed), but the queue did not take them.
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Where scheduled tasks come from, recorded on their rows: the scheduling request's id
/// (`X-Request-Id`) and its caller (`key:NAME`, `sub:SUBJECT`; see `src/auth/`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub request_id: Option<String>,
    pub caller: Option<String>,
}

impl From<Option<String>> for Origin {
    /// A request id alone, no caller (tests, tasks scheduling tasks).
    fn from(request_id: Option<String>) -> Self {
        Self {
            request_id,
            caller: None,
        }
    }
}

/// Where scheduled tasks go: the Redis queue, or straight to in-process execution.
#[derive(Clone)]
pub struct Queue {
    db: DatabaseConnection,
    broker: Option<Broker>,
    settings: Arc<TaskSettings>,
    registry: &'static Registry,
    /// Writes the rows and pushes the messages of concurrent `schedule` calls together
    /// (started on the first call, which runs on the runtime it will live on).
    scheduler: Arc<OnceLock<Scheduler>>,
}

/// The rows and messages of one `schedule` call, written with those of concurrent calls.
struct Scheduling {
    rows: Vec<task::Model>,
    messages: Vec<Message>,
}

type Scheduler = Batcher<Scheduling, Result<(), ScheduleError>>;

impl Queue {
    /// Uses Redis when it is configured and `tasks.eager` is off. Does not wait for Redis:
    /// the API starts (and serves what needs no queue) while Redis is down. `registry`
    /// lists the jobs this process can run.
    pub fn new(
        db: DatabaseConnection,
        redis: &RedisSettings,
        settings: &TaskSettings,
        registry: &'static Registry,
    ) -> Result<Self, QueueError> {
        let broker = match (&redis.url, settings.eager) {
            (Some(_), false) => Some(Broker::connect(redis, settings)?),
            _ => None,
        };
        Ok(Self {
            db,
            broker,
            settings: Arc::new(settings.clone()),
            registry,
            scheduler: Arc::default(),
        })
    }

    /// The same queue with other jobs (tests register jobs of their own).
    pub fn with_registry(mut self, registry: &'static Registry) -> Self {
        self.registry = registry;
        self
    }

    /// The jobs this queue can run.
    pub fn registry(&self) -> &'static Registry {
        self.registry
    }

    /// The database of the task rows.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Tasks run in-process when they are scheduled.
    pub fn is_eager(&self) -> bool {
        self.broker.is_none()
    }

    /// The Redis queue, unless tasks run in-process.
    pub fn broker(&self) -> Option<&Broker> {
        self.broker.as_ref()
    }

    pub fn settings(&self) -> &TaskSettings {
        &self.settings
    }

    /// Schedules `chains`: the tasks of each run one after the other, each only if the one
    /// before succeeded (a chain of one is a lone task). Writes every row first, in one
    /// statement, so that progress can be asked for at once, then hands the first task of
    /// each chain over in one push. Returns the rows in order (in eager mode, in their
    /// final state: they ran already).
    ///
    /// With Redis, calls made while another is being written share the next statement and
    /// push (one commit for all): a lone call waits for nothing, a crowd shares trips.
    pub async fn schedule(
        &self,
        chains: Vec<Vec<JobCall>>,
        origin: Origin,
    ) -> Result<Vec<task::Model>, ScheduleError> {
        let now = Utc::now();
        let mut rows = Vec::new();
        let mut messages = Vec::new();
        for calls in chains {
            let chained = calls.len() > 1;
            let ids: Vec<Uuid> = calls.iter().map(|_| Uuid::new_v4()).collect();
            let mut chain_messages = Vec::with_capacity(calls.len());
            for (position, (call, id)) in calls.into_iter().zip(&ids).enumerate() {
                let chain = chained.then_some((ids[0], position as i32));
                rows.push(store::pending(&call, *id, &origin, chain, now));
                chain_messages.push(Message::first(call, *id, origin.request_id.clone()));
            }
            let mut chain_messages = chain_messages.into_iter();
            if let Some(mut first) = chain_messages.next() {
                first.chain = chain_messages.collect();
                messages.push(first);
            }
        }
        let Some(broker) = &self.broker else {
            store::insert(&self.db, &rows).await?;
            // Counted before they run, as the worker's are.
            count_scheduled(rows.iter());
            for message in messages {
                runner::run_eagerly(self, message).await;
            }
            let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
            return Ok(store::find_many(&self.db, &ids).await?);
        };
        let scheduler = self.scheduler.get_or_init(|| {
            let (db, broker) = (self.db.clone(), broker.clone());
            Batcher::start(move |batch: Vec<Scheduling>| {
                let (db, broker) = (db.clone(), broker.clone());
                async move { write_and_push(&db, &broker, batch).await }
            })
        });
        let scheduling = Scheduling {
            rows: rows.clone(),
            messages,
        };
        match scheduler.write(scheduling).await {
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
        Err(error) if spans.len() == 1 || crate::db::note_failure(&error) => {
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
fn count_scheduled<'a>(rows: impl Iterator<Item = &'a task::Model>) {
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
