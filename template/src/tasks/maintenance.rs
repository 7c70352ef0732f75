//! Housekeeping tasks, fired by `beat`.
use serde::{Deserialize, Serialize};

use crate::controllers;
use crate::models::task;
use crate::queue::{Job, JobCall, JobContext, JobError, Origin, Queue};

/// Deletes finished tasks older than some days, so the `tasks` table stays small.
pub struct PurgeFinished;

/// The arguments of [`PurgeFinished`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeFinishedArgs {
    pub older_than_days: u32,
}

/// How many rows [`PurgeFinished`] deleted.
#[derive(Debug, Serialize)]
pub struct Purged {
    pub deleted: u64,
}

impl Job for PurgeFinished {
    const NAME: &'static str = "tasks.purge_finished";
    type Args = PurgeFinishedArgs;
    type Output = Purged;

    async fn run(ctx: JobContext, args: PurgeFinishedArgs) -> Result<Purged, JobError> {
        let before = chrono::Utc::now() - chrono::Duration::days(i64::from(args.older_than_days));
        let deleted = controllers::tasks::purge_finished(ctx.db(), before).await?;
        Ok(Purged { deleted })
    }
}

/// Schedules [`PurgeFinished`] now (the API's `POST /v1/tasks/purge`), besides beat's
/// nightly run.
pub async fn schedule_purge(
    queue: &Queue,
    older_than_days: u32,
    origin: impl Into<Origin>,
) -> Result<task::Model, controllers::Error> {
    let call = JobCall::new::<PurgeFinished>(PurgeFinishedArgs { older_than_days })
        .map_err(|e| controllers::Error::Internal(e.to_string()))?;
    controllers::tasks::schedule_task(queue, call, origin).await
}

/// Does nothing and answers `"pong"`: schedule it to see that workers are alive, or to
/// measure the queue itself (`cargo bench --bench tasks`).
pub struct Ping;

impl Job for Ping {
    const NAME: &'static str = "tasks.ping";
    type Args = ();
    type Output = &'static str;

    async fn run(_ctx: JobContext, _args: ()) -> Result<&'static str, JobError> {
        Ok("pong")
    }
}
