//! What a job is to the engine: the [`Job`] trait a task implements, the [`Registry`] of
//! them, and a [`JobCall`] ready to be scheduled.
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sea_orm::{DatabaseConnection, DbErr};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::{Queue, store};
use crate::models::task::ErrorCode;

/// Retries a job gets when it does not say otherwise.
pub const DEFAULT_MAX_RETRIES: u32 = 3;

/// Background work with a name, typed arguments and a body: what a task of the service
/// implements (in `src/tasks/`).
///
/// ```text
/// pub struct SendInvoice;
///
/// impl Job for SendInvoice {
///     const NAME: &'static str = "billing.send_invoice";
///     type Args = InvoiceId;
///     type Output = ();
///
///     async fn run(ctx: JobContext, args: InvoiceId) -> Result<(), JobError> { ... }
/// }
/// ```
pub trait Job: Send + Sync + 'static {
    /// The name stored with each task and used in `beat` schedules; keep it stable.
    const NAME: &'static str;
    /// Retries after the first attempt fails; an [`JobError::Unrecoverable`] skips them.
    const MAX_RETRIES: u32 = DEFAULT_MAX_RETRIES;
    /// The arguments, stored as JSON with the task.
    type Args: Serialize + DeserializeOwned + Send + 'static;
    /// The result, stored as JSON with the task.
    type Output: Serialize + Send + 'static;

    /// Does the work. It may run more than once (at-least-once delivery): make it
    /// idempotent, or do its database writes in one transaction with the task's
    /// completion (see [`JobContext::complete_in`]).
    fn run(
        ctx: JobContext,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output, JobError>> + Send;
}

/// What a job's body can reach.
#[derive(Clone)]
pub struct JobContext {
    /// The queue this task came from: a body schedules more tasks through it.
    pub queue: Queue,
    /// The id of the task's row.
    pub task_id: Uuid,
    /// 1 on the first run, 2 on the first retry, ...
    pub attempt: u32,
    pub request_id: Option<String>,
    /// This run: its writes apply only while no later run has taken the task over.
    pub(super) run: store::Run,
    pub(super) completed: Arc<AtomicBool>,
}

impl JobContext {
    pub fn db(&self) -> &DatabaseConnection {
        self.queue.db()
    }

    /// Records the task's success inside `txn`, the task's own transaction, so that its
    /// writes and its completion commit (or vanish) together: a task delivered again
    /// after a crash is then seen finished and not run twice.
    ///
    /// If another run has taken the task over (this one was presumed dead: its worker
    /// was frozen or cut off past its lease), nothing is recorded and the answer is
    /// [`JobError::Superseded`]: return it (`?`), so that `txn` rolls back and this run's
    /// writes vanish.
    pub async fn complete_in<T: Serialize>(
        &self,
        txn: &impl sea_orm::ConnectionTrait,
        output: &T,
    ) -> Result<(), JobError> {
        let result = serde_json::to_value(output).map_err(JobError::unrecoverable)?;
        let recorded = store::mark_succeeded_many(txn, &[(self.run, result)]).await?;
        if !recorded.contains(&self.task_id) {
            return Err(JobError::Superseded);
        }
        self.completed.store(true, Ordering::Release);
        Ok(())
    }
}

/// Why a job's run failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// Worth another try: retried with backoff until the job's retry limit.
    #[error("{0}")]
    Failed(String),
    /// Retrying cannot help (bad arguments, a missing record): the task fails at once.
    #[error("unrecoverable: {0}")]
    Unrecoverable(String),
    /// Another run has taken the task over (see [`JobContext::complete_in`]): this run's
    /// writes must not commit. The run ends quietly; the task's row is the other run's.
    #[error("superseded by a later run of the task")]
    Superseded,
}

impl JobError {
    /// What the task's row keeps of this error (its text goes to the logs only).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Failed(_) | Self::Superseded => ErrorCode::Failed,
            Self::Unrecoverable(_) => ErrorCode::Unrecoverable,
        }
    }

    pub fn failed(error: impl std::fmt::Display) -> Self {
        Self::Failed(error.to_string())
    }

    pub fn unrecoverable(error: impl std::fmt::Display) -> Self {
        Self::Unrecoverable(error.to_string())
    }
}

impl From<DbErr> for JobError {
    fn from(error: DbErr) -> Self {
        Self::Failed(error.to_string())
    }
}

/// Why a run ended without a result, as the engine tells it: by the job, or around it.
#[derive(Debug)]
pub enum Failure {
    /// The body returned an error.
    Job(JobError),
    /// The stored arguments do not fit the job.
    BadArguments(serde_json::Error),
    /// The body's output could not be stored (not JSON, or refused by the database).
    BadResult(String),
    /// The body panicked, with this message.
    Panicked(String),
    /// No job of the message's name is registered.
    UnknownTask,
}

impl Failure {
    /// What the task's row keeps of it.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Job(error) => error.code(),
            Self::BadArguments(_) => ErrorCode::BadArguments,
            Self::BadResult(_) => ErrorCode::BadResult,
            Self::Panicked(_) => ErrorCode::Panicked,
            Self::UnknownTask => ErrorCode::UnknownTask,
        }
    }

    /// Whether another attempt may help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Job(JobError::Failed(_) | JobError::Superseded) | Self::Panicked(_)
        )
    }
}

/// The cause, for the logs (only: it may hold anything, arguments and SQL included).
impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Job(error) => error.fmt(f),
            Self::BadArguments(error) => write!(f, "bad arguments: {error}"),
            Self::BadResult(error) => write!(f, "result not stored: {error}"),
            Self::Panicked(message) => write!(f, "task panicked: {message}"),
            Self::UnknownTask => f.write_str("no task of this name in this version of the service"),
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type RunFn = fn(JobContext, Value) -> BoxFuture<Result<Value, Failure>>;

/// A registered job, its types erased.
#[derive(Clone, Copy)]
pub struct Entry {
    pub name: &'static str,
    pub max_retries: u32,
    run: RunFn,
    check: fn(&Value) -> Result<(), serde_json::Error>,
}

impl Entry {
    /// Runs the job's body on JSON arguments.
    pub fn run(&self, ctx: JobContext, args: Value) -> BoxFuture<Result<Value, Failure>> {
        (self.run)(ctx, args)
    }

    /// Whether `args` are arguments this job accepts.
    pub fn check_args(&self, args: &Value) -> Result<(), serde_json::Error> {
        (self.check)(args)
    }
}

fn run_erased<J: Job>(ctx: JobContext, args: Value) -> BoxFuture<Result<Value, Failure>> {
    Box::pin(async move {
        let args: J::Args = serde_json::from_value(args).map_err(Failure::BadArguments)?;
        let output = J::run(ctx, args).await.map_err(Failure::Job)?;
        serde_json::to_value(output).map_err(|error| Failure::BadResult(error.to_string()))
    })
}

fn check_erased<J: Job>(args: &Value) -> Result<(), serde_json::Error> {
    J::Args::deserialize(args).map(|_| ())
}

/// The jobs a worker can run, by name.
#[derive(Default)]
pub struct Registry {
    jobs: HashMap<&'static str, Entry>,
}

impl Registry {
    /// Adds a job; registering a name twice is a programming error.
    pub fn register<J: Job>(mut self) -> Self {
        let entry = Entry {
            name: J::NAME,
            max_retries: J::MAX_RETRIES,
            run: run_erased::<J>,
            check: check_erased::<J>,
        };
        let previous = self.jobs.insert(J::NAME, entry);
        assert!(previous.is_none(), "task {} registered twice", J::NAME);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.jobs.get(name)
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.jobs.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

/// A job with its arguments, ready to be scheduled as a task.
#[derive(Debug, Clone, PartialEq)]
pub struct JobCall {
    pub name: &'static str,
    pub args: Value,
    pub max_retries: u32,
}

impl JobCall {
    /// A call of job `J`.
    pub fn new<J: Job>(args: J::Args) -> Result<Self, JobError> {
        let args = serde_json::to_value(args)
            .map_err(|e| JobError::Unrecoverable(format!("arguments are not JSON: {e}")))?;
        Ok(Self {
            name: J::NAME,
            args,
            max_retries: J::MAX_RETRIES,
        })
    }

    /// A call of the job registered as `name`, with JSON arguments (beat uses this).
    pub fn named(registry: &Registry, name: &str, args: Value) -> Result<Self, JobError> {
        let entry = registry
            .get(name)
            .ok_or_else(|| JobError::Unrecoverable(format!("no task is named {name:?}")))?;
        entry
            .check_args(&args)
            .map_err(|e| JobError::Unrecoverable(format!("bad arguments for {name}: {e}")))?;
        Ok(Self {
            name: entry.name,
            args,
            max_retries: entry.max_retries,
        })
    }
}
