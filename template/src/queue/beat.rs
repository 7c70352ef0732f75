//! `beat`: schedules tasks on cron patterns.
//!
//! Any number of beats may run. The one holding a lease in Redis fires the schedules;
//! if it dies, another takes the lease within `beat.lease_secs`. Each tick is also
//! claimed with its own key before it fires, so a tick fires once even while two beats
//! briefly both believe they lead: the claim names the beat that holds it, and a beat
//! pushes the tick only while the claim is still its own (one that stalled past it finds
//! it lapsed, or another beat's). Ticks missed during a failover are fired late, when
//! they are at most `beat.catch_up_secs` old.
use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use croner::Cron;
use fred::prelude::*;
use fred::types::scripts::Script;
use sea_orm::DbErr;
use uuid::Uuid;

use super::message::{InstanceId, Message};
use super::{
    Broker, JobCall, JobError, Keys, Origin, Queue, QueueError, RedisQueue, requeue, store,
};
use crate::config::BeatSettings;
use crate::metrics::{self, TaskEvent};
use crate::models::task;

/// Beat's keys, beside the queue's.
impl Keys {
    /// Who leads: the id of the beat holding the lease.
    pub fn beat_leader(&self) -> String {
        format!("{}beat:leader", self.prefix())
    }

    /// The claim of one tick of one schedule: `claimed:<beat>`, then `fired`.
    pub fn beat_fired(&self, schedule: &str, tick_ms: i64) -> String {
        format!("{}beat:fired:{schedule}:{tick_ms}", self.prefix())
    }
}

/// Why beat stopped, or could not fire a tick.
#[derive(Debug, thiserror::Error)]
pub enum BeatError {
    #[error("schedule {name}: {source}")]
    Job { name: String, source: JobError },
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

struct Entry {
    name: String,
    cron: Cron,
    call: JobCall,
}

/// Runs until `shutdown` completes; resigns the lease on the way out.
pub async fn run(
    queue: RedisQueue,
    settings: &BeatSettings,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BeatError> {
    let beat = Beat::new(queue, settings)?;
    let requeue_after = Duration::from_secs(beat.queue.settings().requeue_after_secs);
    let mut last_sweep = tokio::time::Instant::now();
    let mut leading = false;
    // The last tick fired per schedule, while leading.
    let mut fired: HashMap<String, DateTime<Utc>> = HashMap::new();
    tokio::pin!(shutdown);
    beat.broker.connected().await;
    tracing::info!(beat = %beat.id, schedules = beat.entries.len(), "beat started");

    loop {
        let now_leading = beat.hold_lease().await;
        if now_leading != leading {
            if now_leading {
                tracing::info!("beat leads: firing schedules");
            } else {
                tracing::info!("beat follows: another beat holds the lease");
                fired.clear();
            }
            leading = now_leading;
        }
        if leading {
            beat.fire_due(settings, &mut fired).await;
        }

        // Every beat, leading or not, looks for tasks whose push was lost.
        if last_sweep.elapsed() >= requeue::every(requeue_after) {
            last_sweep = tokio::time::Instant::now();
            if let Err(error) = requeue::sweep(beat.queue.db(), &beat.broker, requeue_after).await {
                tracing::debug!(%error, "cannot look for tasks whose push was lost");
            }
        }

        let wait = beat.wait(leading).min(requeue::every(requeue_after));
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(wait.max(Duration::from_millis(10))) => {}
        }
    }

    if leading {
        beat.resign().await;
    }
    tracing::info!("beat stopped");
    Ok(())
}

/// One beat: its schedules, and what leading and firing them needs.
struct Beat {
    queue: Queue,
    broker: Broker,
    id: InstanceId,
    entries: Vec<Entry>,
    lease: Duration,
    catch_up: chrono::Duration,
    lease_script: Script,
    push_claimed: Script,
}

impl Beat {
    fn new(queue: RedisQueue, settings: &BeatSettings) -> Result<Self, BeatError> {
        let entries = entries(queue.queue(), settings)?;
        Ok(Self {
            broker: queue.broker().clone(),
            queue: queue.queue().clone(),
            id: InstanceId::generate(),
            entries,
            lease: Duration::from_secs(settings.lease_secs),
            catch_up: chrono::Duration::seconds(settings.catch_up_secs as i64),
            lease_script: Script::from_lua(include_str!("lua/beat_lease.lua")),
            push_claimed: Script::from_lua(concat!(
                include_str!("lua/now.lua"),
                include_str!("lua/beat_push_claimed.lua")
            )),
        })
    }

    /// Takes or renews the lease; whether this beat leads (not while Redis is away).
    async fn hold_lease(&self) -> bool {
        let held = self
            .lease_script
            .evalsha_with_reload::<i64, _, _>(
                self.broker.client(),
                vec![self.broker.keys().beat_leader()],
                vec![
                    self.id.as_str().to_owned(),
                    self.lease.as_millis().to_string(),
                ],
            )
            .await;
        match held {
            Ok(held) => held == 1,
            Err(error) => {
                tracing::warn!(%error, "cannot reach Redis for the beat lease");
                false
            }
        }
    }

    /// Fires each schedule's ticks due since the last it fired (`fired`), or within the
    /// catch-up window; a tick that cannot be fired now is tried again next round.
    async fn fire_due(&self, settings: &BeatSettings, fired: &mut HashMap<String, DateTime<Utc>>) {
        let now = Utc::now();
        for entry in &self.entries {
            let from = fired
                .get(&entry.name)
                .copied()
                .map_or(now - self.catch_up, |last| last.max(now - self.catch_up));
            for tick in entry.cron.iter_after(from).take_while(|tick| *tick <= now) {
                let fired_tick = Tick {
                    queue: &self.queue,
                    broker: &self.broker,
                    beat: &self.id,
                    push_claimed: &self.push_claimed,
                    entry,
                    at: tick,
                };
                match fired_tick.fire(settings).await {
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

    /// How long to sleep before the next round: until the next tick when leading, and
    /// never past a third of the lease (which must be renewed).
    fn wait(&self, leading: bool) -> Duration {
        let renew = self.lease / 3;
        if !leading {
            return renew;
        }
        let next_tick = self
            .entries
            .iter()
            .filter_map(|entry| entry.cron.find_next_occurrence(&Utc::now(), false).ok())
            .min()
            .and_then(|tick| (tick - Utc::now()).to_std().ok())
            .unwrap_or(renew);
        next_tick.min(renew)
    }

    /// Gives the lease up, so that another beat leads at once.
    async fn resign(&self) {
        let resigned = Script::from_lua(include_str!("lua/beat_resign.lua"))
            .evalsha_with_reload::<i64, _, _>(
                self.broker.client(),
                vec![self.broker.keys().beat_leader()],
                vec![self.id.as_str().to_owned()],
            )
            .await;
        if let Err(error) = resigned {
            tracing::warn!(%error, "cannot give the beat lease up; it will expire");
        }
    }
}

fn entries(queue: &Queue, settings: &BeatSettings) -> Result<Vec<Entry>, BeatError> {
    settings
        .schedules
        .iter()
        .map(|(name, schedule)| {
            let cron = schedule.cron.cron().clone();
            let args = if schedule.args.is_null() {
                serde_json::json!({})
            } else {
                schedule.args.clone()
            };
            let call =
                JobCall::named(queue.registry(), &schedule.task, args).map_err(|source| {
                    BeatError::Job {
                        name: name.clone(),
                        source,
                    }
                })?;
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

/// One tick of one schedule, and what firing it needs.
struct Tick<'a> {
    queue: &'a Queue,
    broker: &'a Broker,
    beat: &'a InstanceId,
    push_claimed: &'a Script,
    entry: &'a Entry,
    at: DateTime<Utc>,
}

impl Tick<'_> {
    /// Claims the tick and, if no beat claimed it before, schedules its task.
    ///
    /// The claim first lasts one lease. The task's message is queued in the same Redis
    /// step that marks the claim fired (and keeps it past the catch-up window). If this
    /// beat dies before that step, the claim lapses and the next leader fires the tick,
    /// reusing the task's row if it was written (its id comes from the schedule and the
    /// tick): each tick is queued exactly once.
    async fn fire(&self, settings: &BeatSettings) -> Result<Fired, BeatError> {
        let client = self.broker.client();
        let key = self
            .broker
            .keys()
            .beat_fired(&self.entry.name, self.at.timestamp_millis());
        let claim = Duration::from_secs(settings.lease_secs);
        let keep = Duration::from_secs(settings.catch_up_secs + settings.lease_secs + 60);
        let mine = format!("claimed:{}", self.beat);
        let claimed: Option<String> = client
            .set(
                &key,
                mine.as_str(),
                Some(Expiration::PX(claim.as_millis() as i64)),
                Some(SetOptions::NX),
                false,
            )
            .await
            .map_err(QueueError::from)?;
        if claimed.is_none() {
            let state: Option<String> = client.get(&key).await.map_err(QueueError::from)?;
            match state.as_deref() {
                // Its own claim, from an attempt that failed: fire it now.
                Some(state) if state == mine => {}
                Some("fired") => return Ok(Fired::Done),
                // Another beat's claim, or one that lapsed a moment ago.
                _ => return Ok(Fired::ClaimedElsewhere),
            }
        }
        // The claim is left to lapse rather than deleted when this fails: the step may
        // have run with only its reply lost, and then the claim says "fired".
        let Some(task) = self.schedule_claimed(&key, &mine, keep).await? else {
            tracing::warn!(schedule = %self.entry.name, tick = %self.at, "the tick's claim lapsed while this beat stalled; another beat fires it");
            return Ok(Fired::ClaimedElsewhere);
        };
        tracing::info!(schedule = %self.entry.name, tick = %self.at, task_id = %task.id, "fired");
        Ok(Fired::Done)
    }

    /// Schedules the task of the tick claimed as `claim` (holding `mine`), exactly once
    /// per tick: its id is derived from the claim, and its message is queued in the same
    /// Redis step that marks the claim fired (kept for `keep`), only while the claim still
    /// holds `mine`; `None` if it no longer does. A beat that died or stalled before that
    /// step left at most the row, which is reused.
    async fn schedule_claimed(
        &self,
        claim: &str,
        mine: &str,
        keep: Duration,
    ) -> Result<Option<task::Model>, BeatError> {
        let db = self.queue.db();
        let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, claim.as_bytes());
        let request_id = format!("beat:{}:{}", self.entry.name, self.at.to_rfc3339());
        let call = self.entry.call.clone();
        let row = match store::find(db, id).await? {
            Some(row) => row,
            None => {
                let origin = Origin {
                    request_id: Some(request_id.clone()),
                    caller: Some("beat".into()),
                };
                let row = store::pending(&call, id, &origin, None, Utc::now());
                // Another beat that took the lapsed claim over may have written it too.
                store::insert_if_absent(db, &row).await?;
                row
            }
        };
        let message = Message::first(call, id, Some(request_id));
        let pushed: i64 = self
            .push_claimed
            .evalsha_with_reload(
                self.broker.client(),
                vec![
                    self.broker.keys().ready(),
                    claim.to_owned(),
                    self.broker.keys().queued(),
                ],
                vec![
                    message.encode().into_string(),
                    keep.as_millis().to_string(),
                    mine.to_owned(),
                    id.to_string(),
                ],
            )
            .await
            .map_err(QueueError::from)?;
        if pushed == 0 {
            return Ok(None);
        }
        metrics::global().tasks(&row.name, TaskEvent::Scheduled, 1);
        Ok(Some(row))
    }
}
