//! The task queue on Redis.
//!
//! Keys, under `{namespace}`:
//! - `ready`: a list of messages waiting for a worker (pushed left, taken right);
//! - `processing:<worker>`: what each worker has taken and not yet acknowledged;
//! - `delayed`: a sorted set of retries, scored by the time they are due (ms);
//! - `workers`: a sorted set of live workers, scored by the end of their lease (ms).
//!
//! A message leaves Redis only when its worker acknowledges it. A worker whose lease ran
//! out (killed, frozen, cut off) is presumed dead and its messages go back to `ready`.
//! Every move between keys is one Lua script, so no crash can lose or duplicate a message.
//! Times come from Redis (`TIME`), so the workers' clocks do not matter.
use std::time::Duration;

use fred::prelude::*;
use fred::types::config::{Options, ReconnectPolicy};
use fred::types::lists::LMoveDirection;
use fred::types::scripts::Script;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::{RedisSettings, RedisUrl, TaskSettings};

/// A task as carried by the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: Uuid,
    pub name: String,
    pub args: serde_json::Value,
    /// 1 for the first run; retries carry the next number.
    pub attempt: u32,
    pub max_retries: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The tasks to run after this one succeeds, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<Message>,
}

impl Message {
    /// The next task of the chain, carrying the rest of it.
    pub fn next(&self) -> Option<Message> {
        let (first, rest) = self.chain.split_first()?;
        let mut next = first.clone();
        next.chain = rest.to_vec();
        Some(next)
    }

    /// The same task, for its next attempt.
    pub fn retried(&self) -> Message {
        Message {
            attempt: self.attempt + 1,
            ..self.clone()
        }
    }

    pub fn encode(&self) -> String {
        // A struct of strings, numbers and JSON values always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Redis did not do what was asked.
#[derive(Debug, thiserror::Error)]
#[error("task queue unavailable: {0}")]
pub struct QueueError(String);

impl QueueError {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<fred::error::Error> for QueueError {
    fn from(error: fred::error::Error) -> Self {
        Self(error.to_string())
    }
}

/// Takes up to ARGV[1] messages from `ready` into a worker's `processing` list.
const RESERVE: &str = r"
local taken = {}
for _ = 1, tonumber(ARGV[1]) do
  local message = redis.call('LMOVE', KEYS[1], KEYS[2], 'RIGHT', 'LEFT')
  if not message then break end
  taken[#taken + 1] = message
end
return taken
";

/// Acknowledges messages ARGV[1], ARGV[3], ... and, for each still held, pushes the
/// chain's next task ARGV[2], ARGV[4], ... (if not ''). Only the first acknowledgement of
/// a message pushes its successor.
const ACK: &str = r"
local acked = 0
for i = 1, #ARGV, 2 do
  local removed = redis.call('LREM', KEYS[1], -1, ARGV[i])
  if removed > 0 and ARGV[i + 1] ~= '' then
    redis.call('LPUSH', KEYS[2], ARGV[i + 1])
  end
  acked = acked + removed
end
return acked
";

/// Pushes message ARGV[1] and marks claim KEYS[2] fired for ARGV[2] ms, both or neither.
const PUSH_CLAIMED: &str = r"
redis.call('SET', KEYS[2], 'fired', 'PX', tonumber(ARGV[2]))
return redis.call('LPUSH', KEYS[1], ARGV[1])
";

/// Replaces held message ARGV[1] by ARGV[2], due in ARGV[3] ms.
const RETRY: &str = r"
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
end
return removed
";

/// Moves up to ARGV[1] due retries from `delayed` to `ready`.
const PROMOTE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, message in ipairs(due) do
  redis.call('ZREM', KEYS[1], message)
  redis.call('LPUSH', KEYS[2], message)
end
return #due
";

/// Extends worker ARGV[1]'s lease to now + ARGV[2] ms.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
";

/// Gives the messages of workers whose lease ended back to `ready` (to be taken first)
/// and forgets those workers. ARGV[1]: the prefix of processing lists. ARGV[2]: a worker
/// that is stopping, or ''; its messages go back now, and it stays listed for ARGV[3] ms
/// more, so that anything reaching its list late is recovered too.
const RECOVER: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] ~= '' then gone[#gone + 1] = ARGV[2] end
local moved = 0
for _, worker in ipairs(gone) do
  local held = ARGV[1] .. worker
  while redis.call('LMOVE', held, KEYS[2], 'LEFT', 'RIGHT') do
    moved = moved + 1
  end
  if worker == ARGV[2] then
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), worker)
  else
    redis.call('ZREM', KEYS[1], worker)
  end
end
return moved
";

/// Puts held message ARGV[1] back at the front of `ready`, if it is still held.
const GIVE_BACK: &str = r"
local removed = redis.call('LREM', KEYS[1], -1, ARGV[1])
if removed > 0 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
return removed
";

/// The key names of one namespace.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(namespace: &str) -> Self {
        // The braces make every key hash to one Redis Cluster slot: `{tasks}:ready`.
        let mut prefix = String::with_capacity(namespace.len() + 3);
        prefix.push('{');
        prefix.push_str(namespace);
        prefix.push_str("}:");
        Self { prefix }
    }

    /// What every key of the namespace starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn ready(&self) -> String {
        format!("{}ready", self.prefix)
    }

    pub fn delayed(&self) -> String {
        format!("{}delayed", self.prefix)
    }

    pub fn workers(&self) -> String {
        format!("{}workers", self.prefix)
    }

    fn processing_prefix(&self) -> String {
        format!("{}processing:", self.prefix)
    }

    pub fn processing(&self, worker: &str) -> String {
        format!("{}{worker}", self.processing_prefix())
    }

    pub fn beat_leader(&self) -> String {
        format!("{}beat:leader", self.prefix)
    }

    pub fn beat_fired(&self, schedule: &str, tick_ms: i64) -> String {
        format!("{}beat:fired:{schedule}:{tick_ms}", self.prefix)
    }
}

struct Scripts {
    reserve: Script,
    ack: Script,
    retry: Script,
    promote: Script,
    heartbeat: Script,
    recover: Script,
    give_back: Script,
    push_claimed: Script,
}

/// A handle on the queue; cheap to clone.
#[derive(Clone)]
pub struct Queue {
    client: Client,
    keys: Keys,
    command_timeout: Duration,
    scripts: std::sync::Arc<Scripts>,
}

impl Queue {
    /// Starts connecting in the background; commands fail (after the command timeout)
    /// until Redis answers, and the client reconnects on its own after losing it.
    pub fn connect(redis: &RedisSettings, tasks: &TaskSettings) -> Result<Self, QueueError> {
        let mut config = redis
            .url
            .as_ref()
            .map(RedisUrl::client_config)
            .ok_or_else(|| QueueError::new("redis.url is not set"))?;
        config.fail_fast = false;
        let command_timeout = Duration::from_millis(redis.command_timeout_ms);
        let client = Builder::from_config(config)
            .with_performance_config(|performance| {
                performance.default_command_timeout = command_timeout;
            })
            .with_connection_config(|connection| {
                connection.connection_timeout = command_timeout;
                connection.internal_command_timeout = command_timeout;
                // A command is not replayed after a broken connection: the queue's
                // scripts decide what a retry means.
                connection.max_command_attempts = 1;
            })
            // Forever, from 100 ms up to 5 s between attempts.
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()?;
        client.connect();
        Ok(Self {
            client,
            keys: Keys::new(&tasks.namespace),
            command_timeout,
            scripts: std::sync::Arc::new(Scripts {
                reserve: Script::from_lua(RESERVE),
                ack: Script::from_lua(ACK),
                retry: Script::from_lua(RETRY),
                promote: Script::from_lua(PROMOTE),
                heartbeat: Script::from_lua(HEARTBEAT),
                recover: Script::from_lua(RECOVER),
                give_back: Script::from_lua(GIVE_BACK),
                push_claimed: Script::from_lua(PUSH_CLAIMED),
            }),
        })
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The client, for the few commands beat needs.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits until Redis answers (used by `worker` and `beat` at start, for a clear log).
    pub async fn wait_until_connected(&self, patience: Duration) -> Result<(), QueueError> {
        tokio::time::timeout(patience, self.client.wait_for_connect())
            .await
            .map_err(|_| QueueError(format!("Redis did not answer within {patience:?}")))??;
        Ok(())
    }

    /// Appends messages to the ready list.
    pub async fn push(&self, messages: &[Message]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let encoded: Vec<String> = messages.iter().map(Message::encode).collect();
        let _: i64 = self.client.lpush(self.keys.ready(), encoded).await?;
        Ok(())
    }

    /// Pushes a message and marks `claim` fired (kept for `keep`) in one step, so that a
    /// claim is fired exactly when its message is queued (beat).
    pub async fn push_claimed(
        &self,
        message: &Message,
        claim: &str,
        keep: Duration,
    ) -> Result<(), QueueError> {
        let _: i64 = self
            .scripts
            .push_claimed
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.ready(), claim.to_owned()],
                vec![message.encode(), keep.as_millis().to_string()],
            )
            .await?;
        Ok(())
    }

    /// A second connection for the blocking wait of one worker (a blocked connection
    /// cannot carry other commands).
    pub async fn blocking_client(&self) -> Result<Client, QueueError> {
        let client = self.client.clone_new();
        client.connect();
        Ok(client)
    }

    /// Takes up to `max` messages for `worker`, waiting up to `wait` for the first.
    pub async fn reserve(
        &self,
        blocking: &Client,
        worker: &str,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<String>, QueueError> {
        let processing = self.keys.processing(worker);
        let mut taken: Vec<String> = self
            .scripts
            .reserve
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.ready(), processing.clone()],
                max,
            )
            .await?;
        if !taken.is_empty() || max == 0 {
            return Ok(taken);
        }
        let options = Options {
            timeout: Some(wait + self.command_timeout),
            ..Default::default()
        };
        let first: Option<String> = match blocking
            .with_options(&options)
            .blmove(
                self.keys.ready(),
                processing.clone(),
                LMoveDirection::Right,
                LMoveDirection::Left,
                wait.as_secs_f64(),
            )
            .await
        {
            Ok(first) => first,
            // fred reports "nothing arrived in time" as a timeout.
            Err(error) if *error.kind() == fred::error::ErrorKind::Timeout => None,
            Err(error) => return Err(error.into()),
        };
        if let Some(first) = first {
            taken.push(first);
            if max > 1 {
                let more: Vec<String> = self
                    .scripts
                    .reserve
                    .evalsha_with_reload(&self.client, vec![self.keys.ready(), processing], max - 1)
                    .await?;
                taken.extend(more);
            }
        }
        Ok(taken)
    }

    /// Acknowledges a message; pushes `next` only if this acknowledgement is the first.
    pub async fn ack(
        &self,
        worker: &str,
        raw: &str,
        next: Option<&Message>,
    ) -> Result<(), QueueError> {
        let next = next.map(Message::encode).unwrap_or_default();
        self.ack_many(worker, vec![(raw.to_owned(), next)]).await
    }

    /// Acknowledges messages, each with its chain's next task encoded (or '').
    pub async fn ack_many(
        &self,
        worker: &str,
        acks: Vec<(String, String)>,
    ) -> Result<(), QueueError> {
        let args: Vec<String> = acks
            .into_iter()
            .flat_map(|(raw, next)| [raw, next])
            .collect();
        let _: i64 = self
            .scripts
            .ack
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.processing(worker), self.keys.ready()],
                args,
            )
            .await?;
        Ok(())
    }

    /// Replaces a held message by `message`, due after `delay`.
    pub async fn retry_later(
        &self,
        worker: &str,
        raw: &str,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.delay_raw(worker, raw, &message.encode(), delay).await
    }

    /// Puts a held message back unchanged, due after `delay` (when it could not be handled).
    pub async fn release_later(
        &self,
        worker: &str,
        raw: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.delay_raw(worker, raw, raw, delay).await
    }

    async fn delay_raw(
        &self,
        worker: &str,
        raw: &str,
        replacement: &str,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let _: i64 = self
            .scripts
            .retry
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.processing(worker), self.keys.delayed()],
                vec![
                    raw.to_owned(),
                    replacement.to_owned(),
                    delay.as_millis().to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    /// Moves due retries to the ready list; returns how many.
    pub async fn promote_due(&self) -> Result<u64, QueueError> {
        let moved: u64 = self
            .scripts
            .promote
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.delayed(), self.keys.ready()],
                1000,
            )
            .await?;
        Ok(moved)
    }

    /// Extends `worker`'s lease.
    pub async fn heartbeat(&self, worker: &str, lease: Duration) -> Result<(), QueueError> {
        let _: i64 = self
            .scripts
            .heartbeat
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.workers()],
                vec![worker.to_owned(), lease.as_millis().to_string()],
            )
            .await?;
        Ok(())
    }

    /// Returns the messages of dead workers to the queue; returns how many.
    pub async fn recover(&self) -> Result<u64, QueueError> {
        self.run_recover("", Duration::ZERO).await
    }

    /// Returns `worker`'s unacknowledged messages to the queue as it stops. It stays
    /// listed for `grace`, so that a message reaching its list late is recovered too.
    pub async fn release(&self, worker: &str, grace: Duration) -> Result<u64, QueueError> {
        self.run_recover(worker, grace).await
    }

    async fn run_recover(&self, worker: &str, grace: Duration) -> Result<u64, QueueError> {
        let moved: u64 = self
            .scripts
            .recover
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.workers(), self.keys.ready()],
                vec![
                    self.keys.processing_prefix(),
                    worker.to_owned(),
                    grace.as_millis().to_string(),
                ],
            )
            .await?;
        Ok(moved)
    }

    /// What `worker` holds: taken from the queue and not yet acknowledged.
    pub async fn held(&self, worker: &str) -> Result<Vec<String>, QueueError> {
        Ok(self
            .client
            .lrange(self.keys.processing(worker), 0, -1)
            .await?)
    }

    /// Puts a held message back at the front of the queue; false if it was not held.
    pub async fn give_back(&self, worker: &str, raw: &str) -> Result<bool, QueueError> {
        let removed: i64 = self
            .scripts
            .give_back
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.processing(worker), self.keys.ready()],
                vec![raw.to_owned()],
            )
            .await?;
        Ok(removed > 0)
    }

    /// Whether Redis answers (within the command timeout).
    pub async fn ping(&self) -> Result<(), QueueError> {
        let _: String = self.client.ping(None).await?;
        Ok(())
    }

    /// Messages waiting in the ready list and in the delayed set.
    pub async fn depth(&self) -> Result<(u64, u64), QueueError> {
        let ready: u64 = self.client.llen(self.keys.ready()).await?;
        let delayed: u64 = self.client.zcard(self.keys.delayed()).await?;
        Ok((ready, delayed))
    }
}
