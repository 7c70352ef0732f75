//! Runs one task and records what happened: the part shared by the worker and eager mode.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing::Instrument;

use super::backoff::Backoff;
use super::job::Failure;
use super::recorder::{RecordError, Recorded, Recorder};
use super::store::{self, Run, Start};
use super::{JobContext, JobError, Message, Queue};
use crate::metrics::{self, TaskEvent};
use crate::models::task::State;
use crate::telemetry;

/// What the queue should do with a message once it has been handled.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    /// Done: acknowledge it, and push the chain's next task if there is one.
    Done { next: Option<Message> },
    /// Failed and worth another try: run `message` after `delay`.
    Retry { message: Message, delay: Duration },
    /// Another live run holds the task: hand the message over again after `delay`, when
    /// that run has ended (it is then seen finished) or is presumed dead (taken over).
    Later { delay: Duration },
}

/// Runs a task once and writes its new state. `start` says whether the task was marked
/// started (see [`Recorder::start`]). An `Err` means a state could not be written (the
/// database is away): the message should be handled again later.
pub(super) async fn process(
    queue: &Queue,
    recorder: &Recorder,
    message: &Message,
    start: Start,
) -> Result<Outcome, RecordError> {
    // A child of the span that scheduled the task, when tracing.
    let parent = telemetry::trace::continue_from(message.trace.as_ref());
    let span = tracing::info_span!(
        "task",
        request_id = message.request_id.as_deref().unwrap_or("-"),
        task_id = %message.id,
        task = %message.name,
        attempt = message.attempt,
    );
    drop(parent);
    process_in_span(queue, recorder, message, start)
        .instrument(span)
        .await
}

async fn process_in_span(
    queue: &Queue,
    recorder: &Recorder,
    message: &Message,
    start: Start,
) -> Result<Outcome, RecordError> {
    let run = match start {
        Start::Run(run) => run,
        Start::Finished(state) => {
            // Delivered again after it finished (its worker died before acknowledging).
            tracing::info!(?state, "task already finished, skipped");
            let next = (state == State::Succeeded)
                .then(|| message.next())
                .flatten();
            return Ok(Outcome::Done { next });
        }
        Start::Held { .. } | Start::Busy => {
            // A second delivery while the first runs (a reply lost in a Redis failover).
            let delay = Duration::from_secs(queue.settings().worker_lease_secs);
            tracing::info!(
                retry_in_ms = delay.as_millis() as u64,
                "task held by another live run, not run; handed over again later"
            );
            return Ok(Outcome::Later { delay });
        }
        Start::Missing => {
            tracing::warn!("task has no row in the database, dropped");
            return Ok(Outcome::Done { next: None });
        }
    };

    tracing::info!("task started");
    let started = std::time::Instant::now();
    let completed = Arc::new(AtomicBool::new(false));
    let result = run_body(queue, message, run, completed.clone()).await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let db = queue.db();
    let failure = match result {
        Ok(value) => {
            // A task that recorded its own success (in its transaction) needs no write.
            let recorded = if completed.load(Ordering::Acquire) {
                Recorded::Written
            } else {
                recorder.succeeded(run, value).await?
            };
            match recorded {
                Recorded::Written => {
                    tracing::info!(elapsed_ms, "task succeeded");
                    metrics::global().tasks(&message.name, TaskEvent::Succeeded, 1);
                    return Ok(Outcome::Done {
                        next: message.next(),
                    });
                }
                Recorded::Superseded => return Ok(superseded(elapsed_ms)),
                Recorded::Rejected(cause) => Failure::BadResult(cause),
            }
        }
        // A body's `Superseded` (from `complete_in`) is written as a failure of its run
        // too: the write, guarded by the run, then says whether another run holds the
        // task, so a body that returns it wrongly cannot leave its task `started`.
        Err(failure) => failure,
    };
    // The row keeps the code; the cause, which may hold anything, goes to the logs.
    let code = failure.code();
    if failure.is_retryable() && message.attempt <= message.max_retries {
        let delay = Backoff::retries(queue.settings()).delay(message.attempt);
        let marked = store::mark_retrying(db, run, code).await;
        if !marked.map_err(|error| recorder.database_error(error))? {
            return Ok(superseded(elapsed_ms));
        }
        tracing::warn!(elapsed_ms, error = %failure, code = code.as_str(), retry_in_ms = delay.as_millis() as u64, "task failed, will retry");
        metrics::global().tasks(&message.name, TaskEvent::Retried, 1);
        return Ok(Outcome::Retry {
            message: message.retried(),
            delay,
        });
    }
    let marked = store::mark_failed(db, run, code, &message.chain_ids()).await;
    if !marked.map_err(|error| recorder.database_error(error))? {
        return Ok(superseded(elapsed_ms));
    }
    tracing::error!(elapsed_ms, error = %failure, code = code.as_str(), "task failed");
    metrics::global().tasks(&message.name, TaskEvent::Failed, 1);
    Ok(Outcome::Done { next: None })
}

/// The end of a run that another has taken over: its writes were not recorded (and its
/// own transaction, if it returned [`JobError::Superseded`], rolled back). The other run
/// owns the task and its chain.
fn superseded(elapsed_ms: u64) -> Outcome {
    tracing::warn!(
        elapsed_ms,
        "task superseded: another run took it over while this one was presumed dead; \
         this run's writes were not recorded"
    );
    Outcome::Done { next: None }
}

/// Runs the body on its own tokio task, so that a panic is a failure, not a dead worker.
async fn run_body(
    queue: &Queue,
    message: &Message,
    run: Run,
    completed: Arc<AtomicBool>,
) -> Result<serde_json::Value, Failure> {
    let Some(entry) = queue.registry().get(&message.name) else {
        return Err(Failure::UnknownTask);
    };
    let ctx = JobContext {
        queue: queue.clone(),
        task_id: message.id,
        attempt: message.attempt,
        request_id: message.request_id.clone(),
        run,
        completed,
    };
    let body = entry
        .run(ctx, message.args.clone())
        .instrument(tracing::Span::current());
    match tokio::spawn(body).await {
        Ok(result) => result,
        Err(join) if join.is_panic() => {
            let panic = join.into_panic();
            let detail = telemetry::reporting::panic_text(panic.as_ref());
            Err(Failure::Panicked(detail.to_owned()))
        }
        Err(_) => Err(Failure::Job(JobError::failed("the run was cancelled"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_hands_its_rest_to_the_next_task() {
        let task = |name: &str| Message {
            id: uuid::Uuid::new_v4(),
            name: name.into(),
            args: serde_json::Value::Null,
            attempt: 1,
            max_retries: 3,
            request_id: None,
            chain: Vec::new(),
            trace: None,
        };
        let mut first = task("a");
        first.chain = vec![task("b"), task("c")];

        let second = first.next().expect("b follows a");
        assert_eq!(second.name, "b");
        assert_eq!(second.chain.len(), 1);
        let third = second.next().expect("c follows b");
        assert_eq!(third.name, "c");
        assert!(third.next().is_none());
    }
}
