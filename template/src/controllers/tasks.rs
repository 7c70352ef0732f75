//! Scheduling background tasks and following their progress.
//!
//! `schedule_task` and `schedule_chain` are the only ways to start background work: they
//! write each task's row (so its progress can be asked for at once) before handing the
//! task to the queue.
use chrono::Utc;
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::{Dependency, Error};
use crate::metrics::{self, TaskEvent};
use crate::models::task::{self, Entity as TaskRow, State};
use crate::tasks::{Message, TaskCall, Tasks};

/// Schedules one task; returns its row.
pub async fn schedule_task(
    tasks: &Tasks,
    call: TaskCall,
    request_id: Option<String>,
) -> Result<task::Model, Error> {
    let mut rows = schedule(tasks, vec![vec![call]], request_id).await?;
    rows.pop()
        .ok_or_else(|| Error::Internal("no task was written".into()))
}

/// Schedules tasks that run one after the other, each only if the one before succeeded;
/// returns their rows in order. The first task's id is the chain's id.
pub async fn schedule_chain(
    tasks: &Tasks,
    calls: Vec<TaskCall>,
    request_id: Option<String>,
) -> Result<Vec<task::Model>, Error> {
    if calls.is_empty() {
        return Ok(Vec::new());
    }
    schedule(tasks, vec![calls], request_id).await
}

/// Schedules independent tasks in one database write and one queue push.
pub async fn schedule_many(
    tasks: &Tasks,
    calls: Vec<TaskCall>,
    request_id: Option<String>,
) -> Result<Vec<task::Model>, Error> {
    let chains = calls.into_iter().map(|call| vec![call]).collect();
    schedule(tasks, chains, request_id).await
}

/// Schedules the task of a claimed beat tick, exactly once per tick: its id is derived
/// from the tick, and its message is queued in the same Redis step that marks the claim
/// fired. A beat that died before that step left at most the row, which is reused.
pub async fn schedule_claimed(
    tasks: &Tasks,
    call: TaskCall,
    id: Uuid,
    request_id: String,
    claim: &str,
    keep: std::time::Duration,
) -> Result<task::Model, Error> {
    let Some(queue) = tasks.queue() else {
        return Err(Error::unavailable(
            Dependency::TaskQueue,
            "beat needs the Redis queue",
        ));
    };
    let row = match TaskRow::find_by_id(id).one(&tasks.db).await? {
        Some(row) => row,
        None => {
            let row = pending_row(&call, id, Some(request_id.clone()), None, Utc::now());
            insert_rows(&tasks.db, std::slice::from_ref(&row)).await?;
            row
        }
    };
    let message = first_message(call, id, Some(request_id));
    queue
        .push_claimed(&message, claim, keep)
        .await
        .map_err(|e| Error::unavailable(Dependency::TaskQueue, e))?;
    metrics::global().tasks(&row.name, TaskEvent::Scheduled, 1);
    Ok(row)
}

async fn schedule(
    tasks: &Tasks,
    chains: Vec<Vec<TaskCall>>,
    request_id: Option<String>,
) -> Result<Vec<task::Model>, Error> {
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut messages = Vec::new();
    for calls in chains {
        let chained = calls.len() > 1;
        let ids: Vec<Uuid> = calls.iter().map(|_| Uuid::new_v4()).collect();
        let mut chain_messages: Vec<Message> = Vec::new();
        for (position, (call, id)) in calls.into_iter().zip(&ids).enumerate() {
            let chain = chained.then_some((ids[0], position as i32));
            rows.push(pending_row(&call, *id, request_id.clone(), chain, now));
            chain_messages.push(first_message(call, *id, request_id.clone()));
        }
        let mut chain_messages = chain_messages.into_iter();
        if let Some(mut first) = chain_messages.next() {
            first.chain = chain_messages.collect();
            messages.push(first);
        }
    }
    insert_rows(&tasks.db, &rows).await?;
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    // Counted before they are queued: in eager mode they run right away.
    count_scheduled(&rows);

    if let Err(error) = tasks.submit(messages).await {
        // Not queued, so never run: say so in the rows rather than leave them pending.
        // A warning: the caller turns the error into its own ERROR (one report each).
        tracing::warn!(%error, "cannot queue tasks");
        let _ = fail_unqueued(&tasks.db, &ids, &error.to_string()).await;
        return Err(Error::unavailable(Dependency::TaskQueue, error));
    }
    if tasks.is_eager() {
        // They ran already: return their final state.
        return reload(&tasks.db, &ids).await;
    }
    Ok(rows)
}

fn count_scheduled(rows: &[task::Model]) {
    let metrics = metrics::global();
    let mut rows = rows.iter().peekable();
    while let Some(row) = rows.next() {
        let mut count = 1;
        while rows.next_if(|next| next.name == row.name).is_some() {
            count += 1;
        }
        metrics.tasks(&row.name, TaskEvent::Scheduled, count);
    }
}

/// The row of a task just scheduled; `chain` is the chain's id and the task's position.
fn pending_row(
    call: &TaskCall,
    id: Uuid,
    request_id: Option<String>,
    chain: Option<(Uuid, i32)>,
    now: chrono::DateTime<Utc>,
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

/// The message of a task's first attempt (a chain's rest is added by the caller).
fn first_message(call: TaskCall, id: Uuid, request_id: Option<String>) -> Message {
    Message {
        id,
        name: call.name.to_owned(),
        args: call.args,
        attempt: 1,
        max_retries: call.max_retries,
        request_id,
        chain: Vec::new(),
    }
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

async fn insert_rows(db: &DatabaseConnection, rows: &[task::Model]) -> Result<(), DbErr> {
    // Stay well under the bind-parameter limits (SQLite: 32766, PostgreSQL: 65535).
    for batch in rows.chunks(1000) {
        let models = batch
            .iter()
            .cloned()
            .map(sea_orm::IntoActiveModel::into_active_model);
        TaskRow::insert_many(models)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

async fn fail_unqueued(db: &DatabaseConnection, ids: &[Uuid], error: &str) -> Result<(), DbErr> {
    ending(State::Failed, error)
        .filter(task::Column::Id.is_in(ids.to_vec()))
        .exec(db)
        .await?;
    Ok(())
}

async fn reload(db: &DatabaseConnection, ids: &[Uuid]) -> Result<Vec<task::Model>, Error> {
    let mut found = Vec::with_capacity(ids.len());
    for batch in ids.chunks(1000) {
        found.extend(
            TaskRow::find()
                .filter(task::Column::Id.is_in(batch.to_vec()))
                .all(db)
                .await?,
        );
    }
    // Keep the order of `ids`.
    let mut by_id: std::collections::HashMap<Uuid, task::Model> =
        found.into_iter().map(|row| (row.id, row)).collect();
    Ok(ids.iter().filter_map(|id| by_id.remove(id)).collect())
}

/// Finds a task by id.
pub async fn get(db: &DatabaseConnection, id: Uuid) -> Result<task::Model, Error> {
    TaskRow::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| Error::NotFound {
            resource: "task",
            id: id.to_string(),
        })
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

/// Marks tasks started, in one statement, unless they finished already; returns the
/// ids it marked. `attempts` counts every start, including runs cut short by a crash.
pub async fn mark_started(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<Vec<Uuid>, DbErr> {
    let now = Utc::now();
    let started = TaskRow::update_many()
        .col_expr(task::Column::State, Expr::value(State::Started))
        .col_expr(
            task::Column::Attempts,
            Expr::col(task::Column::Attempts).add(1),
        )
        .col_expr(task::Column::StartedAt, Expr::value(now))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .filter(task::Column::Id.is_in(ids.to_vec()))
        .filter(task::Column::State.is_in([State::Pending, State::Retrying, State::Started]))
        .exec_with_returning(db)
        .await?;
    Ok(started.into_iter().map(|row| row.id).collect())
}

/// Why a task could not be marked started.
pub async fn why_not_started(db: &impl ConnectionTrait, id: Uuid) -> Result<Start, DbErr> {
    Ok(match TaskRow::find_by_id(id).one(db).await? {
        Some(row) if row.state.is_finished() => Start::Finished(row.state),
        Some(_) => Start::Run,
        None => Start::Missing,
    })
}

/// Records the success of several tasks, with their results, in one statement.
pub async fn mark_succeeded_many(
    db: &impl ConnectionTrait,
    results: &[(Uuid, serde_json::Value)],
) -> Result<(), DbErr> {
    let Some(((first_id, first_result), rest)) = results.split_first() else {
        return Ok(());
    };
    let mut result = CaseStatement::new().case(
        task::Column::Id.eq(*first_id),
        Expr::value(first_result.clone()),
    );
    for (id, value) in rest {
        result = result.case(task::Column::Id.eq(*id), Expr::value(value.clone()));
    }
    let now = Utc::now();
    TaskRow::update_many()
        .col_expr(task::Column::State, Expr::value(State::Succeeded))
        .col_expr(task::Column::Result, result.into())
        .col_expr(task::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .col_expr(task::Column::FinishedAt, Expr::value(now))
        .filter(task::Column::Id.is_in(results.iter().map(|(id, _)| *id)))
        .exec(db)
        .await?;
    Ok(())
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
    before: chrono::DateTime<Utc>,
) -> Result<u64, DbErr> {
    let deleted = TaskRow::delete_many()
        .filter(task::Column::State.is_in([State::Succeeded, State::Failed, State::Cancelled]))
        .filter(task::Column::FinishedAt.lt(before))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
