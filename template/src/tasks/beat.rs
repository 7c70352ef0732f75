//! `beat`: schedules tasks on cron patterns.
//!
//! Any number of beats may run. The one holding a lease in Redis fires the schedules;
//! if it dies, another takes the lease within `beat.lease_secs`. Each tick is also
//! claimed with its own key before it fires, so a tick fires once even while two beats
//! briefly both believe they lead. Ticks missed during a failover are fired late, when
//! they are at most `beat.catch_up_secs` old.
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use fred::prelude::*;
use fred::types::scripts::Script;

use super::{Queue, QueueError, TaskCall, Tasks};
use crate::config::BeatSettings;
use crate::controllers;

/// Takes or renews the lease ARGV[1] for ARGV[2] ms; 1 if held.
const LEASE: &str = r"
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Gives the lease up if ARGV[1] holds it.
const RESIGN: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Why beat cannot start.
#[derive(Debug, thiserror::Error)]
pub enum BeatError {
    #[error("schedule {name}: {reason}")]
    Schedule { name: String, reason: String },
    #[error(transparent)]
    Queue(#[from] QueueError),
}

struct Entry {
    name: String,
    cron: Cron,
    call: TaskCall,
}

/// Runs until `shutdown` completes; resigns the lease on the way out.
pub async fn run(
    tasks: Tasks,
    settings: &BeatSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BeatError> {
    let Some(queue) = tasks.queue().cloned() else {
        return Err(QueueError::new(
            "beat needs redis.url, with tasks.eager off (the lease lives in Redis)",
        )
        .into());
    };
    let entries = entries(&tasks, settings)?;
    let id = super::instance_id("beat");
    let lease = Duration::from_secs(settings.lease_secs);
    let catch_up = chrono::Duration::seconds(settings.catch_up_secs as i64);
    let lease_script = Script::from_lua(LEASE);
    let mut leading = false;
    // The last tick fired per schedule, while leading.
    let mut fired: HashMap<String, DateTime<Utc>> = HashMap::new();
    tokio::pin!(shutdown);
    tracing::info!(beat = %id, schedules = entries.len(), "beat started");

    loop {
        let held = lease_script
            .evalsha_with_reload::<i64, _, _>(
                queue.client(),
                vec![queue.keys().beat_leader()],
                vec![id.clone(), lease.as_millis().to_string()],
            )
            .await;
        let now_leading = match held {
            Ok(held) => held == 1,
            Err(error) => {
                tracing::warn!(%error, "cannot reach Redis for the beat lease");
                false
            }
        };
        if now_leading != leading {
            if now_leading {
                tracing::info!("beat leads: firing schedules");
            } else {
                tracing::info!("beat follows: another beat holds the lease");
                fired.clear();
            }
            leading = now_leading;
        }

        let now = Utc::now();
        if leading {
            for entry in &entries {
                let from = fired
                    .get(&entry.name)
                    .copied()
                    .map_or(now - catch_up, |last| last.max(now - catch_up));
                for tick in entry.cron.iter_after(from).take_while(|tick| *tick <= now) {
                    match fire(&tasks, &queue, entry, tick, settings).await {
                        Ok(Fired::Done) => {
                            fired.insert(entry.name.clone(), tick);
                        }
                        // Another beat's claim, not yet fired: look again next round (it
                        // fires, or its claim lapses and this beat fires it).
                        Ok(Fired::ClaimedElsewhere) => break,
                        Err(error) => {
                            tracing::error!(schedule = %entry.name, %tick, %error, "cannot fire; will try again");
                            break;
                        }
                    }
                }
            }
        }

        let renew = lease / 3;
        let next_tick = entries
            .iter()
            .filter_map(|entry| entry.cron.find_next_occurrence(&Utc::now(), false).ok())
            .min()
            .and_then(|tick| (tick - Utc::now()).to_std().ok())
            .unwrap_or(renew);
        let wait = if leading { next_tick.min(renew) } else { renew };
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
        }
    }

    if leading {
        let resigned = Script::from_lua(RESIGN)
            .evalsha_with_reload::<i64, _, _>(
                queue.client(),
                vec![queue.keys().beat_leader()],
                vec![id.clone()],
            )
            .await;
        if let Err(error) = resigned {
            tracing::warn!(%error, "cannot give the beat lease up; it will expire");
        }
    }
    tracing::info!("beat stopped");
    Ok(())
}

fn entries(tasks: &Tasks, settings: &BeatSettings) -> Result<Vec<Entry>, BeatError> {
    settings
        .schedules
        .iter()
        .map(|(name, schedule)| {
            let fail = |reason: String| BeatError::Schedule {
                name: name.clone(),
                reason,
            };
            let cron = schedule.cron.cron().clone();
            let args = if schedule.args.is_null() {
                serde_json::json!({})
            } else {
                schedule.args.clone()
            };
            let call = TaskCall::named(tasks.registry(), &schedule.task, args)
                .map_err(|e| fail(e.to_string()))?;
            Ok(Entry {
                name: name.clone(),
                cron,
                call,
            })
        })
        .collect()
}

/// What became of a tick.
enum Fired {
    /// Queued, by this beat or another.
    Done,
    /// Claimed by a beat that has not queued it (yet, or ever).
    ClaimedElsewhere,
}

/// Claims `tick` of `entry` and, if no beat claimed it before, schedules its task.
///
/// The claim first lasts one lease. The task's message is queued in the same Redis step
/// that marks the claim fired (and keeps it past the catch-up window). If this beat dies
/// before that step, the claim lapses and the next leader fires the tick, reusing the
/// task's row if it was written (its id comes from the schedule and the tick): each tick
/// is queued exactly once.
async fn fire(
    tasks: &Tasks,
    queue: &Queue,
    entry: &Entry,
    tick: DateTime<Utc>,
    settings: &BeatSettings,
) -> Result<Fired, BeatError> {
    let key = queue
        .keys()
        .beat_fired(&entry.name, tick.timestamp_millis());
    let claim = Duration::from_secs(settings.lease_secs);
    let keep = Duration::from_secs(settings.catch_up_secs + settings.lease_secs + 60);
    let claimed: Option<String> = queue
        .client()
        .set(
            &key,
            "claimed",
            Some(Expiration::PX(claim.as_millis() as i64)),
            Some(SetOptions::NX),
            false,
        )
        .await
        .map_err(QueueError::from)?;
    if claimed.is_none() {
        let state: Option<String> = queue.client().get(&key).await.map_err(QueueError::from)?;
        return Ok(match state.as_deref() {
            Some("claimed") => Fired::ClaimedElsewhere,
            // Fired, or the claim lapsed a moment ago: the next round tells.
            Some(_) => Fired::Done,
            None => Fired::ClaimedElsewhere,
        });
    }
    let request_id = format!("beat:{}:{}", entry.name, tick.to_rfc3339());
    let id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, key.as_bytes());
    let scheduled =
        controllers::tasks::schedule_claimed(tasks, entry.call.clone(), id, request_id, &key, keep)
            .await;
    match scheduled {
        Ok(task) => {
            tracing::info!(schedule = %entry.name, %tick, task_id = %task.id, "fired");
            Ok(Fired::Done)
        }
        // The claim is left to lapse rather than deleted: the step may have run with
        // only its reply lost, and then the claim says "fired".
        Err(error) => Err(QueueError::new(error.to_string()).into()),
    }
}
