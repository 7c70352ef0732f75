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
    pub last_error: Option<String>,
    pub result: Option<Json>,
    /// The first task of the chain this task belongs to, if any.
    pub chain_id: Option<Uuid>,
    pub chain_position: Option<i32>,
    /// The `X-Request-Id` of the request (or the beat tick) that scheduled the task.
    pub request_id: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
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

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
