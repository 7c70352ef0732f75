//! Tasks about persons.
use std::time::Duration;

use sea_orm::TransactionTrait;
use serde::{Deserialize, Serialize};

use crate::controllers;
use crate::models::task;
use crate::queue::{Job, JobCall, JobContext, JobError, Origin, Queue};

/// Adds one year to a person's age: the seed's example task.
pub struct AddOneYear;

/// The arguments of [`AddOneYear`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddOneYearArgs {
    pub person_id: i64,
    /// Waits this long first, standing in for slow work (demos, crash tests).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pause_ms: u64,
}

fn is_zero(value: &u64) -> bool {
    *value == 0
}

/// What [`AddOneYear`] leaves as its result.
#[derive(Debug, Serialize)]
pub struct NewAge {
    pub age: i32,
}

impl Job for AddOneYear {
    const NAME: &'static str = "persons.add_one_year";
    type Args = AddOneYearArgs;
    type Output = NewAge;

    async fn run(ctx: JobContext, args: AddOneYearArgs) -> Result<NewAge, JobError> {
        if args.pause_ms > 0 {
            tokio::time::sleep(Duration::from_millis(args.pause_ms)).await;
        }
        // The new age and the task's success commit together: if the worker dies before
        // acknowledging, the task is delivered again, seen finished, and not run twice; a
        // run taken over meanwhile (its worker froze past its lease) gets `Superseded`
        // here, and its transaction rolls back.
        let txn = ctx.db().begin().await?;
        let person = controllers::birthdays::add_years(&txn, args.person_id, 1).await?;
        let output = NewAge { age: person.age };
        ctx.complete_in(&txn, &output).await?;
        txn.commit().await?;
        Ok(output)
    }
}

/// Schedules the person's birthday: [`AddOneYear`], once the person is known to exist.
/// `origin` is the request's id and caller, recorded on the task.
pub async fn schedule_birthday(
    queue: &Queue,
    person_id: i64,
    origin: impl Into<Origin>,
) -> Result<task::Model, controllers::Error> {
    controllers::persons::get(queue.db(), person_id).await?;
    let call = JobCall::new::<AddOneYear>(AddOneYearArgs {
        person_id,
        pause_ms: 0,
    })
    .map_err(|e| controllers::Error::Internal(e.to_string()))?;
    controllers::tasks::schedule_task(queue, call, origin).await
}
