//! The task engine: scheduling, the Redis queue, `worker`, `beat`, and the task rows.
//!
//! Words, each for one thing:
//! - a **job** is a kind of background work: a type implementing [`Job`] (a name, typed
//!   arguments, a body). The service's jobs are its tasks, in `src/tasks/`, listed in the
//!   [`Registry`] given to [`Queue::new`] (the service's: `tasks::queue`);
//! - a **task** is one scheduled run of a job, with its row in the `tasks` table
//!   (`models::task`, written only by [`store`]), shown at `/v1/tasks/{id}`;
//! - a [`JobCall`] is a job with its arguments, ready to become a task;
//! - a [`Message`] is what the Redis queue carries for one attempt of a task;
//! - the [`Queue`] is where tasks are scheduled. Its backend is the Redis [`Broker`]
//!   (rows and messages of concurrent calls written together: `scheduler`), or in-process
//!   execution when no Redis is configured or `tasks.eager` is set (`eager`: the same
//!   runner, minus the broker). `worker` and `beat` need Redis: they run on a
//!   [`RedisQueue`], which [`Queue::on_redis`] gives.
//!
//! The engine knows no task of the service and calls no controller: controllers schedule
//! through `controllers::tasks`, which calls [`Queue::schedule`].
use std::sync::Arc;

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr};
use uuid::Uuid;

use crate::config::{RedisSettings, TaskSettings};
use crate::db::Health;
use crate::models::task;

mod backoff;
mod batch;
pub mod beat;
pub mod broker;
mod eager;
pub mod job;
pub mod message;
mod recorder;
pub mod requeue;
mod runner;
mod scheduler;
pub mod store;
pub mod worker;

pub use broker::{Broker, Keys, QueueError};
pub use job::{DEFAULT_MAX_RETRIES, Entry, Job, JobCall, JobContext, JobError, Registry};
pub use message::{Encoded, InstanceId, Message};
use scheduler::Scheduler;

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
    /// Told when the task rows cannot be written because the database is away.
    health: Health,
    backend: Backend,
    settings: Arc<TaskSettings>,
    registry: &'static Registry,
}

/// How scheduled tasks reach a run.
#[derive(Clone)]
enum Backend {
    /// Through the Redis queue, to the workers.
    Redis(Scheduler),
    /// In this process, before `schedule` returns.
    InProcess,
}

impl Queue {
    /// Uses Redis when it is configured and `tasks.eager` is off. Does not wait for Redis:
    /// the API starts (and serves what needs no queue) while Redis is down. `health` is
    /// `db`'s (see [`Health`]); `registry` lists the jobs this process can run.
    pub fn new(
        db: DatabaseConnection,
        health: &Health,
        redis: &RedisSettings,
        settings: &TaskSettings,
        registry: &'static Registry,
    ) -> Result<Self, QueueError> {
        let backend = match (&redis.url, settings.eager) {
            (Some(_), false) => {
                let broker = Broker::connect(redis, settings)?;
                Backend::Redis(Scheduler::new(db.clone(), health.clone(), broker))
            }
            _ => Backend::InProcess,
        };
        Ok(Self {
            db,
            health: health.clone(),
            backend,
            settings: Arc::new(settings.clone()),
            registry,
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

    /// What this process knows of whether the database answers.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Tasks run in-process when they are scheduled.
    pub fn is_eager(&self) -> bool {
        matches!(self.backend, Backend::InProcess)
    }

    /// The Redis queue, unless tasks run in-process.
    pub fn broker(&self) -> Option<&Broker> {
        match &self.backend {
            Backend::Redis(scheduler) => Some(scheduler.broker()),
            Backend::InProcess => None,
        }
    }

    /// This queue on Redis, for `process` (`worker` and `beat` need it); an error that
    /// names `process` when tasks run in-process.
    pub fn on_redis(&self, process: &'static str) -> Result<RedisQueue, QueueError> {
        let broker = self.broker().ok_or(QueueError::NotConfigured(process))?;
        Ok(RedisQueue {
            broker: broker.clone(),
            queue: self.clone(),
        })
    }

    /// The `tasks` settings.
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
        let (rows, messages) = plan(chains, &origin);
        match &self.backend {
            Backend::Redis(scheduler) => scheduler.schedule(rows, messages).await,
            Backend::InProcess => eager::schedule(self, rows, messages).await,
        }
    }
}

/// The rows of the tasks of `chains`, pending, and the message of each chain's first task
/// (carrying the rest of its chain).
fn plan(chains: Vec<Vec<JobCall>>, origin: &Origin) -> (Vec<task::Model>, Vec<Message>) {
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut messages = Vec::new();
    for calls in chains {
        let chained = calls.len() > 1;
        let ids: Vec<Uuid> = calls.iter().map(|_| Uuid::new_v4()).collect();
        let mut chain_messages = Vec::with_capacity(calls.len());
        for (position, (call, id)) in calls.into_iter().zip(&ids).enumerate() {
            let chain = chained.then_some((ids[0], position as i32));
            rows.push(store::pending(&call, *id, origin, chain, now));
            chain_messages.push(Message::first(call, *id, origin.request_id.clone()));
        }
        let mut chain_messages = chain_messages.into_iter();
        if let Some(mut first) = chain_messages.next() {
            first.chain = chain_messages.collect();
            messages.push(first);
        }
    }
    (rows, messages)
}

/// A [`Queue`] on Redis: what `worker` and `beat` run on (see [`Queue::on_redis`]).
#[derive(Clone)]
pub struct RedisQueue {
    queue: Queue,
    broker: Broker,
}

impl RedisQueue {
    /// The queue, for what runs tasks or schedules them.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// The Redis queue itself.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }
}
