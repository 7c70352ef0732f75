//! The task rows: every statement that reads or writes the `tasks` table.
//!
//! Every write is one [`Transition`] of the row (`models::task`), as an update conditional
//! on the states the transition may come from. The writes of a run also name the run: the
//! attempt its start returned ([`Run`]), so that a run another has superseded (its worker
//! was presumed dead, and the task taken over) changes nothing.
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{CaseStatement, Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, TransactionSession, TransactionTrait,
};
use serde_json::Value;
use uuid::Uuid;

use super::{JobCall, Origin};
use crate::models::task::{self, Entity as TaskRow, ErrorCode, State, Transition};
use crate::platform::sql::{padded, padded_len};

/// Most ids or rows in one statement, well under the bind-parameter limits (SQLite:
/// 32766, PostgreSQL: 65535).
pub(super) const CHUNK: usize = 1000;

/// Longest request id a row keeps (its column's size): a longer one is cut to it.
pub const REQUEST_ID_MAX: usize = 200;

/// One run of a task: the task, and the number its start gave the run (the row's
/// `attempts` after it). The run's writes apply only while the row is at that number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Run {
    pub task: Uuid,
    pub attempt: i32,
}

/// The row of a task just scheduled; `chain` is the chain's id and the task's position.
pub fn pending(
    call: &JobCall,
    id: Uuid,
    origin: &Origin,
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
        // Cut rather than refused: one long id must not fail the statement it shares.
        request_id: origin.request_id.as_ref().map(|id| {
            match id.char_indices().nth(REQUEST_ID_MAX) {
                Some((end, _)) => id[..end].to_owned(),
                None => id.clone(),
            }
        }),
        caller: origin.caller.clone(),
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        worker: None,
    }
}

/// Writes new rows: in one statement, or in one transaction of several when they are
/// many, so that they are written all or none.
pub async fn insert<C>(db: &C, rows: &[task::Model]) -> Result<(), DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if rows.len() <= CHUNK {
        return insert_chunk(db, rows).await;
    }
    let txn = db.begin().await?;
    for chunk in rows.chunks(CHUNK) {
        insert_chunk(&txn, chunk).await?;
    }
    txn.commit().await
}

async fn insert_chunk(db: &impl ConnectionTrait, rows: &[task::Model]) -> Result<(), DbErr> {
    if rows.is_empty() {
        return Ok(());
    }
    let models = rows.iter().cloned().map(IntoActiveModel::into_active_model);
    TaskRow::insert_many(models)
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Writes a row unless one with its id exists (beat's tick, written again by the next
/// beat that fires it).
pub async fn insert_if_absent(db: &impl ConnectionTrait, row: &task::Model) -> Result<(), DbErr> {
    TaskRow::insert(row.clone().into_active_model())
        .on_conflict_do_nothing_on([task::Column::Id])
        .exec_without_returning(db)
        .await?;
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

/// An update making `transition`: it sets the new state and applies only to rows in a
/// state the transition may come from. Callers add the rows' ids (and the run's attempt)
/// and what else changes.
fn moving(transition: Transition, now: DateTime<Utc>) -> sea_orm::UpdateMany<TaskRow> {
    TaskRow::update_many()
        .col_expr(task::Column::State, Expr::value(transition.to()))
        .col_expr(task::Column::UpdatedAt, Expr::value(now))
        .filter(task::Column::State.is_in(transition.from().iter().copied()))
}

/// Only the rows of `run`, at the run's attempt.
fn of_run(run: Run) -> SimpleExpr {
    task::Column::Id
        .eq(run.task)
        .and(task::Column::Attempts.eq(run.attempt))
}

/// A transition that ends tasks (failed, cancelled) with the error `code`.
fn ending(transition: Transition, code: ErrorCode) -> sea_orm::UpdateMany<TaskRow> {
    let now = Utc::now();
    moving(transition, now)
        .col_expr(task::Column::LastError, Expr::value(code.as_str()))
        .col_expr(task::Column::FinishedAt, Expr::value(now))
}

/// Fails tasks the queue did not take, unless they moved on (a push that timed out may
/// have landed, and a worker started the task): they will not run.
pub async fn fail_unqueued(db: &impl ConnectionTrait, ids: &[Uuid]) -> Result<(), DbErr> {
    for batch in ids.chunks(CHUNK) {
        ending(Transition::Unqueued, ErrorCode::NotQueued)
            .filter(task::Column::Id.is_in(batch.to_vec()))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Whether a delivered task should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// It is marked started for this run: run it.
    Run(Run),
    /// It finished already (a second delivery): do not run it again.
    Finished(State),
    /// Another run holds it: run `run`, by `worker` (unknown for runs of older versions
    /// of the service). Run it only if that run is presumed dead (see [`take_over`]).
    Held { run: Run, worker: Option<String> },
    /// Another run moved it a moment ago: look again later.
    Busy,
    /// It has no row (its database was reset, say).
    Missing,
}

/// Marks tasks started by `worker`, in one statement, unless another run holds them or
/// they finished; says for each whether to run it. `attempts` counts every start,
/// including runs cut short by a crash, and numbers the run.
pub async fn start(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    worker: Option<&str>,
) -> Result<Vec<Start>, DbErr> {
    let mut started: HashMap<Uuid, i32> =
        mark_started(db, ids, worker).await?.into_iter().collect();
    let others: Vec<Uuid> = ids
        .iter()
        .filter(|id| !started.contains_key(id))
        .copied()
        .collect();
    // Rare (a second delivery): their rows are read in one more statement.
    let mut rows: HashMap<Uuid, task::Model> = if others.is_empty() {
        HashMap::new()
    } else {
        find_many(db, &others)
            .await?
            .into_iter()
            .map(|row| (row.id, row))
            .collect()
    };
    let mut seen = HashSet::with_capacity(ids.len());
    Ok(ids
        .iter()
        .map(|id| match started.remove(id) {
            Some(attempt) => {
                seen.insert(*id);
                Start::Run(Run { task: *id, attempt })
            }
            // Twice in one batch: the first copy runs.
            None if seen.contains(id) => Start::Busy,
            None => match rows.remove(id) {
                Some(row) if row.state.is_finished() => Start::Finished(row.state),
                Some(row) if row.state == State::Started => Start::Held {
                    run: Run {
                        task: row.id,
                        attempt: row.attempts,
                    },
                    worker: row.worker,
                },
                Some(_) => Start::Busy,
                None => Start::Missing,
            },
        })
        .collect())
}

/// Marks tasks started unless another run holds them or they finished; returns the ids it
/// marked, with their runs' attempts.
async fn mark_started(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    worker: Option<&str>,
) -> Result<Vec<(Uuid, i32)>, DbErr> {
    let now = Utc::now();
    let mut update = moving(Transition::Start, now)
        .col_expr(
            task::Column::Attempts,
            Expr::col(task::Column::Attempts).add(1),
        )
        .col_expr(task::Column::StartedAt, Expr::value(now))
        .col_expr(task::Column::Worker, Expr::value(worker.map(str::to_owned)))
        .filter(task::Column::Id.is_in(padded(ids)))
        .into_query();
    // The ids and runs alone: the rows' arguments and results need not travel back.
    update.returning(
        sea_orm::sea_query::Query::returning().columns([task::Column::Id, task::Column::Attempts]),
    );
    db.query_all(&update)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "attempts")?)))
        .collect()
}

/// Takes over `run`, presumed dead, for `worker`: a new run of the task, unless the task
/// moved on meanwhile (the run ended, or another worker took over first).
pub async fn take_over(
    db: &impl ConnectionTrait,
    run: Run,
    worker: Option<&str>,
) -> Result<Option<Run>, DbErr> {
    let now = Utc::now();
    let mut update = moving(Transition::TakeOver, now)
        .col_expr(
            task::Column::Attempts,
            Expr::col(task::Column::Attempts).add(1),
        )
        .col_expr(task::Column::StartedAt, Expr::value(now))
        .col_expr(task::Column::Worker, Expr::value(worker.map(str::to_owned)))
        .filter(of_run(run))
        .into_query();
    update.returning_col(task::Column::Attempts);
    let row = db.query_one(&update).await?;
    row.map(|row| {
        Ok(Run {
            task: run.task,
            attempt: row.try_get("", "attempts")?,
        })
    })
    .transpose()
}

/// Records the success of several runs, with their results, in one statement; returns the
/// tasks it recorded (a run superseded by another is left out, and changes nothing).
pub async fn mark_succeeded_many(
    db: &impl ConnectionTrait,
    results: &[(Run, Value)],
) -> Result<HashSet<Uuid>, DbErr> {
    let Some((first, rest)) = results.split_first() else {
        return Ok(HashSet::new());
    };
    // Padded like the ids: one statement text per size class.
    let last = rest.last().unwrap_or(first);
    let padding = std::iter::repeat_n(last, padded_len(results.len()) - results.len());
    let mut result = CaseStatement::new();
    for (run, value) in std::iter::once(first).chain(rest).chain(padding.clone()) {
        result = result.case(task::Column::Id.eq(run.task), Expr::value(value.clone()));
    }
    let runs = std::iter::once(first)
        .chain(rest)
        .chain(padding)
        .map(|(run, _)| (run.task, run.attempt));
    let ids: Vec<Uuid> = results.iter().map(|(run, _)| run.task).collect();
    let now = Utc::now();
    let mut update = moving(Transition::Succeed, now)
        .col_expr(task::Column::Result, result.into())
        .col_expr(task::Column::LastError, Expr::value(Option::<String>::None))
        .col_expr(task::Column::FinishedAt, Expr::value(now))
        .filter(task::Column::Id.is_in(padded(&ids)))
        // Each task at its run's attempt: a superseded run's success is not written.
        .filter(
            Expr::tuple([
                Expr::col(task::Column::Id),
                Expr::col(task::Column::Attempts),
            ])
            .in_tuples(runs),
        )
        .into_query();
    update.returning_col(task::Column::Id);
    db.query_all(&update)
        .await?
        .iter()
        .map(|row| row.try_get::<Uuid>("", "id"))
        .collect()
}

/// Records a failed run that will be retried; false if the run was superseded.
pub async fn mark_retrying(
    db: &impl ConnectionTrait,
    run: Run,
    code: ErrorCode,
) -> Result<bool, DbErr> {
    let updated = moving(Transition::Retry, Utc::now())
        .col_expr(task::Column::LastError, Expr::value(code.as_str()))
        .filter(of_run(run))
        .exec(db)
        .await?;
    Ok(updated.rows_affected > 0)
}

/// Records a run's final failure, and cancels the tasks of its chain that were to follow;
/// false (and nothing written) if the run was superseded.
pub async fn mark_failed(
    db: &impl ConnectionTrait,
    run: Run,
    code: ErrorCode,
    chain_rest: &[Uuid],
) -> Result<bool, DbErr> {
    let failed = ending(Transition::Fail, code)
        .filter(of_run(run))
        .exec(db)
        .await?;
    if failed.rows_affected == 0 {
        return Ok(false);
    }
    for batch in chain_rest.chunks(CHUNK) {
        ending(Transition::Cancel, ErrorCode::ChainFailed)
            .filter(task::Column::Id.is_in(batch.to_vec()))
            .exec(db)
            .await?;
    }
    Ok(true)
}

/// Pending tasks last pushed (or scheduled) before `before` whose message carries them:
/// lone tasks and the first of each chain (the rest of a chain travels in its first
/// task's message), oldest first, at most [`CHUNK`].
pub async fn pending_before(
    db: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> Result<Vec<Uuid>, DbErr> {
    TaskRow::find()
        .select_only()
        .column(task::Column::Id)
        .filter(task::Column::State.eq(State::Pending))
        .filter(task::Column::UpdatedAt.lt(before))
        .filter(
            task::Column::ChainPosition
                .is_null()
                .or(task::Column::ChainPosition.eq(0)),
        )
        .order_by_asc(task::Column::UpdatedAt)
        .limit(CHUNK as u64)
        .into_tuple()
        .all(db)
        .await
}

/// Claims pending tasks for a push again, unless they moved on or another sweep claimed
/// them since `before`; returns the rows claimed.
pub async fn claim_requeue(
    db: &impl ConnectionTrait,
    ids: &[Uuid],
    before: DateTime<Utc>,
) -> Result<Vec<task::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut update = moving(Transition::Requeue, Utc::now())
        .filter(task::Column::Id.is_in(ids.to_vec()))
        .filter(task::Column::UpdatedAt.lt(before))
        .into_query();
    update.returning_all();
    db.query_all(&update)
        .await?
        .iter()
        .map(|row| {
            use sea_orm::FromQueryResult;
            task::Model::from_query_result(row, "")
        })
        .collect()
}

/// The tasks that follow `heads` in their chains, in order.
pub async fn chain_rests(
    db: &impl ConnectionTrait,
    heads: &[Uuid],
) -> Result<Vec<task::Model>, DbErr> {
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    TaskRow::find()
        .filter(task::Column::ChainId.is_in(heads.to_vec()))
        .filter(task::Column::ChainPosition.gt(0))
        .order_by_asc(task::Column::ChainId)
        .order_by_asc(task::Column::ChainPosition)
        .all(db)
        .await
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_transition_leaves_a_state_it_may_not_repeat_unless_it_says_so() {
        for transition in Transition::ALL {
            assert!(!transition.from().is_empty(), "{transition:?}");
            // Only these two keep a row in its state: each is guarded by more than it.
            let same = transition.from().contains(&transition.to());
            assert_eq!(
                same,
                matches!(transition, Transition::TakeOver | Transition::Requeue),
                "{transition:?}"
            );
            assert!(
                transition.from().iter().all(|state| !state.is_finished()),
                "a finished task never changes: {transition:?}"
            );
        }
    }

    #[test]
    fn long_request_ids_are_cut_to_the_column() {
        let call = JobCall {
            name: "test",
            args: Value::Null,
            max_retries: 0,
        };
        let long = "é".repeat(REQUEST_ID_MAX + 50);
        let row = pending(&call, Uuid::nil(), &Some(long).into(), None, Utc::now());
        assert_eq!(
            row.request_id.map(|id| id.chars().count()),
            Some(REQUEST_ID_MAX)
        );
    }
}
