//! Background work: declare a task, register it, schedule it from a controller.
//!
//! A task is a type implementing [`Task`]: a name, typed arguments, a retry limit and an
//! async body. [`registry`] lists every task the worker knows. Controllers schedule tasks
//! with `controllers::tasks::schedule_task` / `schedule_chain`, which write each task's row
//! and hand it to the [`Tasks`] handle: the Redis queue, or in-process execution when no
//! Redis is configured or `tasks.eager` is set (the same code path, minus the queue).
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};

use sea_orm::{DatabaseConnection, DbErr};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::config::{RedisSettings, TaskSettings};
use crate::controllers;

pub mod batch;
pub mod beat;
pub mod maintenance;
pub mod persons;
pub mod queue;
pub mod recorder;
pub mod runner;
pub mod worker;

pub use queue::{Message, Queue, QueueError};

/// Retries a task gets when it does not say otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Background work with a name, typed arguments and a body.
///
/// ```text
/// pub struct SendInvoice;
///
/// impl Task for SendInvoice {
///     const NAME: &'static str = "billing.send_invoice";
///     type Args = InvoiceId;
///     type Output = ();
///
///     async fn run(ctx: TaskContext, args: InvoiceId) -> Result<(), TaskError> { ... }
/// }
/// ```
pub trait Task: Send + Sync + 'static {
    /// The name stored with the task and used in `beat` schedules; keep it stable.
    const NAME: &'static str;
    /// Retries after the first attempt fails; an [`TaskError::Unrecoverable`] skips them.
    const MAX_RETRIES: u32 = DEFAULT_MAX_RETRIES;
    /// The arguments, stored as JSON with the task.
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// The result, stored as JSON with the task.
    type Output: Serialize + Send + 'static;

    /// Does the work. It may run more than once (at-least-once delivery): make it
    /// idempotent, or do its database writes in one transaction with the task's
    /// completion (see `persons::AddOneYear`).
    fn run(
        ctx: TaskContext,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, TaskError>> + Send;
}

/// What a task's body can reach.
#[derive(Clone)]
pub struct TaskContext {
    pub tasks: Tasks,
    pub task_id: Uuid,
    /// 1 on the first run, 2 on the first retry, ...
    pub attempt: u32,
    pub request_id: Option<String>,
    completed: Arc<AtomicBool>,
}

impl TaskContext {
    pub fn db(&self) -> &DatabaseConnection {
        &self.tasks.db
    }

    /// Records the task's success inside `txn`, the task's own transaction, so that its
    /// writes and its completion commit (or vanish) together: a task delivered again
    /// after a crash is then seen finished and not run twice.
    pub async fn complete_in<T: Serialize>(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        output: &T,
    ) -> Result<(), TaskError> {
        let result = serde_json::to_value(output).map_err(TaskError::unrecoverable)?;
        controllers::tasks::mark_succeeded_many(txn, &[(self.task_id, result)]).await?;
        self.completed.store(true, Ordering::Release);
        Ok(())
    }
}

/// Why a task's run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError {
    /// Worth another try: retried with backoff until the task's retry limit.
    #[error("{0}")]
    Failed(String),
    /// Retrying cannot help (bad arguments, a missing record): the task fails at once.
    #[error("unrecoverable: {0}")]
    Unrecoverable(String),
}

impl TaskError {
    pub fn failed(error: impl std::fmt::Display) -> Self {
        Self::Failed(error.to_string())
    }

    pub fn unrecoverable(error: impl std::fmt::Display) -> Self {
        Self::Unrecoverable(error.to_string())
    }
}

impl From<controllers::Error> for TaskError {
    fn from(error: controllers::Error) -> Self {
        match error {
            controllers::Error::NotFound { .. } | controllers::Error::Invalid(_) => {
                Self::Unrecoverable(error.to_string())
            }
            _ => Self::Failed(error.to_string()),
        }
    }
}

impl From<DbErr> for TaskError {
    fn from(error: DbErr) -> Self {
        Self::Failed(error.to_string())
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type RunFn = fn(TaskContext, Value) -> BoxFuture<Result<Value, TaskError>>;

/// A registered task, its types erased.
#[derive(Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    pub max_retries: u32,
    run: RunFn,
    check: fn(&Value) -> Result<(), String>,
}

impl Entry {
    /// Runs the task's body on JSON arguments.
    pub fn run(&self, ctx: TaskContext, args: Value) -> BoxFuture<Result<Value, TaskError>> {
        (self.run)(ctx, args)
    }

    /// Whether `args` are arguments this task accepts.
    pub fn check_args(&self, args: &Value) -> Result<(), String> {
        (self.check)(args)
    }
}

fn run_erased<T: Task>(ctx: TaskContext, args: Value) -> BoxFuture<Result<Value, TaskError>> {
    Box::pin(async move {
        let args: T::Args = serde_json::from_value(args)
            .map_err(|e| TaskError::Unrecoverable(format!("bad arguments: {e}")))?;
        let output = T::run(ctx, args).await?;
        serde_json::to_value(output)
            .map_err(|e| TaskError::Unrecoverable(format!("result is not JSON: {e}")))
    })
}

fn check_erased<T: Task>(args: &Value) -> Result<(), String> {
    T::Args::deserialize(args)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The tasks a worker can run, by name.
#[derive(Default)]
pub struct Registry {
    tasks: HashMap<&'static str, Entry>,
}

impl Registry {
    /// Adds a task; registering a name twice is a programming error.
    pub fn register<T: Task>(mut self) -> Self {
        let entry = Entry {
            name: T::NAME,
            max_retries: T::MAX_RETRIES,
            run: run_erased::<T>,
            check: check_erased::<T>,
        };
        let previous = self.tasks.insert(T::NAME, entry);
        assert!(previous.is_none(), "task {} registered twice", T::NAME);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.tasks.get(name)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tasks.contains_key(name)
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.tasks.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

/// A name that tells `worker` and `beat` processes apart in Redis and in logs:
/// `host-pid-random` (the host falls back to `role`). Beat's tests read the pid from it.
pub(crate) fn instance_id(role: &str) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| role.into());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &random[..8])
}

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

/// A task with its arguments, ready to be scheduled.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCall {
    pub name: &'static str,
    pub args: Value,
    pub max_retries: u32,
}

impl TaskCall {
    /// A call of task `T`.
    pub fn new<T: Task>(args: T::Args) -> Result<Self, TaskError> {
        let args = serde_json::to_value(args)
            .map_err(|e| TaskError::Unrecoverable(format!("arguments are not JSON: {e}")))?;
        Ok(Self {
            name: T::NAME,
            args,
            max_retries: T::MAX_RETRIES,
        })
    }

    /// A call of the task registered as `name`, with JSON arguments (beat uses this).
    pub fn named(registry: &Registry, name: &str, args: Value) -> Result<Self, TaskError> {
        let entry = registry
            .get(name)
            .ok_or_else(|| TaskError::Unrecoverable(format!("no task is named {name:?}")))?;
        entry
            .check_args(&args)
            .map_err(|e| TaskError::Unrecoverable(format!("bad arguments for {name}: {e}")))?;
        Ok(Self {
            name: entry.name,
            args,
            max_retries: entry.max_retries,
        })
    }
}

/// Where scheduled tasks go: the Redis queue, or straight to in-process execution.
#[derive(Clone)]
pub struct Tasks {
    pub db: DatabaseConnection,
    queue: Option<Queue>,
    settings: Arc<TaskSettings>,
    registry: &'static Registry,
}

impl Tasks {
    /// Uses Redis when it is configured and `tasks.eager` is off. Does not wait for Redis:
    /// the API starts (and serves what needs no queue) while Redis is down.
    pub fn new(
        db: DatabaseConnection,
        redis: &RedisSettings,
        settings: &TaskSettings,
    ) -> Result<Self, QueueError> {
        let queue = match (&redis.url, settings.eager) {
            (Some(_), false) => Some(Queue::connect(redis, settings)?),
            _ => None,
        };
        Ok(Self {
            db,
            queue,
            settings: Arc::new(settings.clone()),
            registry: registry(),
        })
    }

    /// The same handle with other tasks (tests register tasks of their own).
    pub fn with_registry(mut self, registry: &'static Registry) -> Self {
        self.registry = registry;
        self
    }

    /// The tasks this handle can run.
    pub fn registry(&self) -> &'static Registry {
        self.registry
    }

    /// Tasks run in-process when they are scheduled.
    pub fn is_eager(&self) -> bool {
        self.queue.is_none()
    }

    /// The Redis queue, unless tasks run in-process.
    pub fn queue(&self) -> Option<&Queue> {
        self.queue.as_ref()
    }

    pub fn settings(&self) -> &TaskSettings {
        &self.settings
    }

    /// Hands written tasks over for execution: pushed to Redis, or run here and now.
    pub(crate) async fn submit(&self, messages: Vec<Message>) -> Result<(), QueueError> {
        match &self.queue {
            Some(queue) => queue.push(&messages).await,
            None => {
                for message in messages {
                    runner::run_eagerly(self, message).await;
                }
                Ok(())
            }
        }
    }
}
