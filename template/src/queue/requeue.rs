//! Tasks whose message never reached Redis: found and pushed again.
//!
//! A task's row is committed before its message is pushed. If the push is lost (the
//! process dies between the two, or Redis acknowledged it and failed over before its
//! replica had it), the row stays `pending` and nothing would ever run it. Every worker
//! and beat sweeps for such rows now and then: a pending task older than
//! `tasks.requeue_after_secs` whose id is not among the queued ones in Redis (`queued`,
//! written in the very script that pushes, removed by the acknowledgement) is pushed
//! again. Each sweep claims the rows it pushes with a conditional update (their
//! `updated_at`, the time of their last push), so that of the workers and beats that
//! sweep at once, one pushes each task.
use std::time::Duration;

use chrono::Utc;
use sea_orm::DatabaseConnection;
use uuid::Uuid;

use super::message::Message;
use super::{Broker, ScheduleError, store};
use crate::models::task;

/// How often a worker or beat sweeps, for tasks lost `after` ago: a few times per
/// `after`, at most once a second, at least once a minute.
pub fn every(after: Duration) -> Duration {
    (after / 4).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// Pushes again the pending tasks last pushed more than `after` ago whose message is not
/// in Redis; returns how many.
pub async fn sweep(
    db: &DatabaseConnection,
    broker: &Broker,
    after: Duration,
) -> Result<usize, ScheduleError> {
    let Ok(after) = chrono::Duration::from_std(after) else {
        return Ok(0);
    };
    let before = Utc::now() - after;
    let candidates = store::pending_before(db, before).await?;
    if candidates.is_empty() {
        return Ok(0);
    }
    let queued = broker.queued(&candidates).await?;
    let lost: Vec<Uuid> = candidates
        .into_iter()
        .zip(queued)
        .filter_map(|(id, queued)| (!queued).then_some(id))
        .collect();
    let heads = store::claim_requeue(db, &lost, before).await?;
    if heads.is_empty() {
        return Ok(0);
    }
    let chained: Vec<Uuid> = heads
        .iter()
        .filter(|head| head.chain_id == Some(head.id))
        .map(|head| head.id)
        .collect();
    let rests = store::chain_rests(db, &chained).await?;
    let messages: Vec<Message> = heads
        .iter()
        .map(|head| {
            let mut message = message_of(head);
            message.chain = rests
                .iter()
                .filter(|row| row.chain_id == Some(head.id))
                .map(message_of)
                .collect();
            message
        })
        .collect();
    // Claimed, then lost again (Redis away): the next sweep after `after` tries again.
    broker.push(&messages).await?;
    tracing::warn!(
        requeued = messages.len(),
        "pushed again tasks whose message never reached the queue"
    );
    Ok(messages.len())
}

/// The first attempt's message of a task, from its row.
fn message_of(row: &task::Model) -> Message {
    Message {
        id: row.id,
        name: row.name.clone(),
        args: row.arguments.clone(),
        attempt: 1,
        max_retries: u32::try_from(row.max_retries).unwrap_or(0),
        request_id: row.request_id.clone(),
        chain: Vec::new(),
        // The scheduling span's context is not kept in the row: a run pushed again
        // starts a trace of its own.
        trace: None,
    }
}
