//! A background task: what was asked, and how far it got.
use sea_orm::entity::prelude::*;
use serde::Serialize;

/// A row of the `tasks` table, written by `schedule_task`/`schedule_chain` and the worker.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tasks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub arguments: Json,
    pub state: State,
    /// Runs started so far, the first one included.
    pub attempts: i32,
    pub max_retries: i32,
    /// Why the last attempt failed, as an [`ErrorCode`] (its cause is in the logs).
    pub last_error: Option<String>,
    pub result: Option<Json>,
    /// The first task of the chain this task belongs to, if any.
    pub chain_id: Option<Uuid>,
    pub chain_position: Option<i32>,
    /// The `X-Request-Id` of the request (or the beat tick) that scheduled the task.
    pub request_id: Option<String>,
    /// Who scheduled it: the caller of that request (`key:NAME`, `sub:SUBJECT`).
    pub caller: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    /// The worker whose run holds the task while it is `started` (the last one after).
    pub worker: Option<String>,
}

/// Where a task is in its life.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, utoipa::ToSchema,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting in the queue.
    #[sea_orm(string_value = "pending")]
    Pending,
    /// Running on a worker.
    #[sea_orm(string_value = "started")]
    Started,
    /// Failed, and waiting for its next attempt.
    #[sea_orm(string_value = "retrying")]
    Retrying,
    #[sea_orm(string_value = "succeeded")]
    Succeeded,
    /// Failed for good: retries exhausted, or an unrecoverable error.
    #[sea_orm(string_value = "failed")]
    Failed,
    /// Never run: an earlier task of its chain failed.
    #[sea_orm(string_value = "cancelled")]
    Cancelled,
}

impl State {
    /// Whether the task will not run again.
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// Every change a task's row may undergo, with the states it may start from: the one table
/// of the row's life. Each write of the engine (`queue::store`) is one of these, as an
/// update conditional on [`Transition::from`] (and, for the writes of a run, on the run's
/// attempt), so a write that comes too late (from a stale run, a second delivery, a
/// scheduler that timed out) changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// A worker takes the task: its first run, or a retry.
    Start,
    /// A worker takes over a run presumed dead (its worker's lease ran out).
    TakeOver,
    /// The run succeeded.
    Succeed,
    /// The run failed and another attempt follows.
    Retry,
    /// The run failed for good.
    Fail,
    /// The queue did not take the task: it will never run.
    Unqueued,
    /// An earlier task of its chain failed: it will never run.
    Cancel,
    /// Its message never reached the queue: pushed again (the state stays `pending`).
    Requeue,
}

impl Transition {
    /// Every transition.
    pub const ALL: [Self; 8] = [
        Self::Start,
        Self::TakeOver,
        Self::Succeed,
        Self::Retry,
        Self::Fail,
        Self::Unqueued,
        Self::Cancel,
        Self::Requeue,
    ];

    /// The states a row may be in for this transition to apply.
    pub fn from(self) -> &'static [State] {
        match self {
            Self::Start => &[State::Pending, State::Retrying],
            Self::TakeOver | Self::Succeed | Self::Retry | Self::Fail => &[State::Started],
            Self::Unqueued | Self::Cancel | Self::Requeue => &[State::Pending],
        }
    }

    /// The state it leaves the row in.
    pub fn to(self) -> State {
        match self {
            Self::Start | Self::TakeOver => State::Started,
            Self::Succeed => State::Succeeded,
            Self::Retry => State::Retrying,
            Self::Fail | Self::Unqueued => State::Failed,
            Self::Cancel => State::Cancelled,
            Self::Requeue => State::Pending,
        }
    }
}

/// Why a task failed, as its row keeps it (`last_error`) and the API shows it: a stable
/// code and a generic message. The cause itself (a database error, a panic's message) may
/// hold what a client must not see: it goes to the logs and Sentry, never to the row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The run returned an error (another attempt may follow).
    Failed,
    /// The run returned an error that retrying cannot fix.
    Unrecoverable,
    /// The run panicked.
    Panicked,
    /// This version of the service has no task of this name.
    UnknownTask,
    /// The stored arguments do not fit the task.
    BadArguments,
    /// The run's result could not be stored.
    BadResult,
    /// The queue did not take the task.
    NotQueued,
    /// An earlier task of its chain failed.
    ChainFailed,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [Self; 8] = [
        Self::Failed,
        Self::Unrecoverable,
        Self::Panicked,
        Self::UnknownTask,
        Self::BadArguments,
        Self::BadResult,
        Self::NotQueued,
        Self::ChainFailed,
    ];

    /// The code as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Unrecoverable => "unrecoverable",
            Self::Panicked => "panicked",
            Self::UnknownTask => "unknown_task",
            Self::BadArguments => "bad_arguments",
            Self::BadResult => "bad_result",
            Self::NotQueued => "not_queued",
            Self::ChainFailed => "chain_failed",
        }
    }

    /// What it means, for people.
    pub fn message(self) -> &'static str {
        match self {
            Self::Failed => "the task failed; the service's logs say why",
            Self::Unrecoverable => "the task cannot succeed; the service's logs say why",
            Self::Panicked => "the task stopped on an internal error",
            Self::UnknownTask => "this version of the service has no task of this name",
            Self::BadArguments => "the task's arguments do not fit it",
            Self::BadResult => "the task's result could not be stored",
            Self::NotQueued => "the task queue was unavailable: the task was not queued",
            Self::ChainFailed => "not run: an earlier task of its chain failed",
        }
    }

    /// The code of a stored `last_error`. Rows written before codes were stored hold free
    /// text: it reads as the code of their state's usual failure.
    pub fn of_stored(stored: &str, state: State) -> Self {
        Self::ALL
            .into_iter()
            .find(|code| code.as_str() == stored)
            .unwrap_or(if state == State::Cancelled {
                Self::ChainFailed
            } else {
                Self::Failed
            })
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
