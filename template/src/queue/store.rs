//! The task rows: every statement that reads or writes the `tasks` table.
//!
//! A row goes `pending` → `started` → `succeeded`, or `retrying` between failed attempts,
//! `failed` at the end, `cancelled` for the rest of a chain after a failure. Each move is
//! one function here, guarded by the states it may come from.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::JobCall;
use crate::models::task::{self, Entity as TaskRow, State};

/// Most ids or rows in one statement, well under the bind-parameter limits (SQLite:
/// 32766, PostgreSQL: 65535).
pub(super) const CHUNK: usize = 1000;

/// The row of a task just scheduled; `chain` is the chain's id and the task's position.
pub fn pending(
    call: &JobCall,
    id: Uuid,
    request_id: Option<String>,
    chain: Option<(Uuid, i32)>,
    now: DateTime<Utc>,
) -> task::Model {
    task::Model {
        id,
        name: call.name.to_owned(),
        arguments: call.args.clone(),
        state: State::Pending,
        attempts: 0,
        max_retries: call.max_retries as i32,
        last_error: None,
        result: None,
        chain_id: chain.map(|(chain_id, _)| chain_id),
        chain_position: chain.map(|(_, position)| position),
        request_id,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    }
}

/// Writes new rows.
pub async fn insert(db: &impl ConnectionTrait, rows: &[task::Model]) -> Result<(), DbErr> {
    for batch in rows.chunks(CHUNK) {
        let models = batch
            .iter()
            .cloned()
            .map(IntoActiveModel::into_active_model);
        TaskRow::insert_many(models)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

/// The row of task `id`, if there is one.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> Result<Option<task::Model>, DbErr> {
    TaskRow::find_by_id(id).one(db).await
}

/// The rows of `ids`, in the order of `ids` (missing ones left out).
pub async fn find_many(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<task::Model>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    for batch in ids.chunks(CHUNK) {
        found.extend(
            TaskRow::find()
                .filter(task::Column::Id.is_in(batch.to_vec()))
                .all(db)
                .await?,
        );
    }
    let mut by_id: HashMap<Uuid, task::Model> =
        found.into_iter().map(|row| (row.id, row)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// An update that ends tasks in `state` (failed, cancelled) with `error`; add the filters.
fn ending(state: State, error: impl Into<String>) -> sea_orm::UpdateMany<TaskRow> {
    let now = Utc::now();
    TaskRow::update_many()
        .col_expr(task::Column::State, Expr::value(state))
        .col_expr(task::Column::LastError, Expr::value(error.into()))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .col_expr(task::Column::FinishedAt, Expr::value(now))
}

/// Fails tasks that could not be queued, so that they do not stay pending forever.
pub async fn fail_unqueued(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    error: &str,
) -> Result<(), DbErr> {
    for batch in ids.chunks(CHUNK) {
        ending(State::Failed, error)
            .filter(task::Column::Id.is_in(batch.to_vec()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Whether a delivered task should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// It is marked started: run it.
    Run,
    /// It finished already (a second delivery): do not run it again.
    Finished(State),
    /// It has no row (its database was reset, say).
    Missing,
}

/// Marks tasks started, in one statement, unless they finished already; says for each
/// whether to run it. `attempts` counts every start, including runs cut short by a crash.
pub async fn start(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Start>, DbErr> {
    let started: HashSet<Uuid> = mark_started(db, ids).await?.into_iter().collect();
    let mut starts = Vec::with_capacity(ids.len());
    for id in ids {
        starts.push(if started.contains(id) {
            Start::Run
        } else {
            match find(db, *id).await? {
                Some(row) if row.state.is_finished() => Start::Finished(row.state),
                // Not finished, yet not startable: only a race with another start.
                Some(_) => Start::Finished(State::Started),
                None => Start::Missing,
            }
        });
    }
    Ok(starts)
}

/// Marks tasks started unless they finished already; returns the ids it marked.
async fn mark_started(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
    let now = Utc::now();
    let mut update = TaskRow::update_many()
        .col_expr(task::Column::State, Expr::value(State::Started))
        .col_expr(
            task::Column::Attempts,
            Expr::col(task::Column::Attempts).add(1),
        )
        .col_expr(task::Column::StartedAt, Expr::value(now))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .filter(task::Column::Id.is_in(padded(ids)))
        .filter(task::Column::State.is_in([State::Pending, State::Retrying, State::Started]))
        .into_query();
    // The ids alone: the rows' arguments and results need not travel back.
    update.returning_col(task::Column::Id);
    db.query_all(&update)
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect()
}

/// Records the success of several tasks, with their results, in one statement.
pub async fn mark_succeeded_many(
    db: &impl ConnectionTrait,
    results: &[(Uuid, Value)],
) -> Result<(), DbErr> {
    let Some((first, rest)) = results.split_first() else {
        return Ok(());
    };
    let mut result =
        CaseStatement::new().case(task::Column::Id.eq(first.0), Expr::value(first.1.clone()));
    // Padded like the ids below: one statement text per size class.
    let last = rest.last().unwrap_or(first);
    let padding = std::iter::repeat_n(last, padded_len(results.len()) - results.len());
    for (id, value) in rest.iter().chain(padding) {
        result = result.case(task::Column::Id.eq(*id), Expr::value(value.clone()));
    }
    let ids: Vec<Uuid> = results.iter().map(|(id, _)| *id).collect();
    let now = Utc::now();
    TaskRow::update_many()
        .col_expr(task::Column::State, Expr::value(State::Succeeded))
        .col_expr(task::Column::Result, result.into())
        .col_expr(task::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .col_expr(task::Column::FinishedAt, Expr::value(now))
        .filter(task::Column::Id.is_in(padded(&ids)))
        .exec(db)
        .await?;
    Ok(())
}

/// `ids` with its last id repeated up to the next power of two. Batched writes list a
/// varying number of ids, and each count is a statement of its own to prepare and cache
/// per connection: padded, a few sizes serve every batch and stay prepared.
fn padded(ids: &[Uuid]) -> Vec<Uuid> {
    let mut padded = Vec::with_capacity(padded_len(ids.len()));
    padded.extend_from_slice(ids);
    if let Some(&last) = ids.last() {
        padded.resize(padded_len(ids.len()), last);
    }
    padded
}

fn padded_len(len: usize) -> usize {
    len.next_power_of_two()
}

/// Records a failed attempt that will be retried.
pub async fn mark_retrying(db: &impl ConnectionTrait, id: Uuid, error: &str) -> Result<(), DbErr> {
    TaskRow::update_many()
        .col_expr(task::Column::State, Expr::value(State::Retrying))
        .col_expr(task::Column::LastError, Expr::value(error))
        .col_expr(task::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(task::Column::Id.eq(id))
        .filter(task::Column::State.eq(State::Started))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a task's final failure, and cancels the tasks of its chain that were to follow.
pub async fn mark_failed(
    db: &impl ConnectionTrait,
    id: Uuid,
    error: &str,
    chain_rest: &[Uuid],
) -> Result<(), DbErr> {
    ending(State::Failed, error)
        .filter(task::Column::Id.eq(id))
        .exec(db)
        .await?;
    if !chain_rest.is_empty() {
        ending(
            State::Cancelled,
            format!("not run: task {id} of its chain failed"),
        )
        .filter(task::Column::Id.is_in(chain_rest.to_vec()))
        .filter(task::Column::State.eq(State::Pending))
        .exec(db)
        .await?;
    }
    Ok(())
}

/// Deletes finished tasks older than `before`; returns how many.
pub async fn purge_finished(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let deleted = TaskRow::delete_many()
        .filter(task::Column::State.is_in([State::Succeeded, State::Failed, State::Cancelled]))
        .filter(task::Column::FinishedAt.lt(before))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
