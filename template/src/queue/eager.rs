//! In-process execution, when no Redis is configured or `tasks.eager` is set: a task
//! runs where it is scheduled, before `schedule` returns (Celery's "always eager").
use uuid::Uuid;

use super::recorder::Recorder;
use super::runner::{self, Outcome};
use super::scheduler::count_scheduled;
use super::{Message, Queue, ScheduleError, store};
use crate::models::task;

/// Writes `rows`, runs the tasks of `messages` (the first of each chain) one after the
/// other, and returns the rows in their final state.
pub(super) async fn schedule(
    queue: &Queue,
    rows: Vec<task::Model>,
    messages: Vec<Message>,
) -> Result<Vec<task::Model>, ScheduleError> {
    store::insert(queue.db(), &rows).await?;
    // Counted before they run, as the worker's are.
    count_scheduled(rows.iter());
    for message in messages {
        run(queue, message).await;
    }
    let ids: Vec<Uuid> = rows.iter().map(|row| row.id).collect();
    Ok(store::find_many(queue.db(), &ids).await?)
}

/// Runs a task and its retries and chain, without waiting between attempts. The states
/// written are those the worker writes.
async fn run(queue: &Queue, message: Message) {
    let recorder = Recorder::direct(queue.db().clone(), queue.health().clone());
    let mut current = Some(message);
    while let Some(message) = current.take() {
        let outcome = match recorder.start(message.id).await {
            Ok(start) => runner::process(queue, &recorder, &message, start).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(Outcome::Done { next }) => current = next,
            Ok(Outcome::Retry { message, .. }) => current = Some(message),
            // In-process, nothing else runs it: not reached.
            Ok(Outcome::Later { .. }) => {}
            Err(error) => {
                tracing::error!(task_id = %message.id, %error, "cannot record the task's state");
            }
        }
    }
}
