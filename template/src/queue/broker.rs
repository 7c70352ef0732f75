//! The queue on Redis: the broker between those who schedule and the workers.
//!
//! Keys, under `{namespace}`:
//! - `ready`: a list of messages waiting for a worker (pushed left, taken right);
//! - `processing:<worker>`: what each worker has taken and not yet acknowledged;
//! - `delayed`: a sorted set of retries, scored by the time they are due (ms);
//! - `workers`: a sorted set of live workers, scored by the end of their lease (ms);
//! - `queued`: a sorted set of the ids of the tasks whose message is in Redis (in any of
//!   the keys above), scored by the time it was pushed: written in the same script as the
//!   push, and removed by the acknowledgement, so that a pending task missing from it is
//!   one whose push was lost (see [`super::requeue`]).
//!
//! A message leaves Redis only when its worker acknowledges it. A worker whose lease ran
//! out (killed, frozen, cut off) is presumed dead and its messages go back to `ready`.
//! Every move between keys is one Lua script (`lua/*.lua`), so no crash can lose or
//! duplicate a message. Times come from Redis (`TIME`), so the workers' clocks do not
//! matter. Every script declares the keys it touches, as Redis Cluster requires.
use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;
use fred::types::config::{Options, ReconnectPolicy};
use fred::types::lists::LMoveDirection;
use fred::types::scripts::Script;

use super::message::{Ack, Encoded, InstanceId, Message};
use crate::config::{RedisSettings, RedisUrl, TaskSettings};

/// The queue's Redis could not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// Redis refused the command, or did not answer in time.
    #[error("task queue unavailable: {0}")]
    Redis(#[from] fred::error::Error),
    /// The process needs the Redis queue, and tasks run in-process instead.
    #[error("task queue unavailable: {0} needs redis.url, with tasks.eager off")]
    NotConfigured(&'static str),
    /// The part of this process that talks to Redis has stopped.
    #[error("task queue unavailable: the {0} stopped")]
    Stopped(&'static str),
    /// A thread of the worker could not be started.
    #[error("cannot start a thread: {0}")]
    Thread(String),
}

/// A script that starts with the `now` preamble (`lua/now.lua`).
macro_rules! timed {
    ($file:literal) => {
        concat!(include_str!("lua/now.lua"), include_str!($file))
    };
}

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

    /// The tasks whose message is in Redis.
    pub fn queued(&self) -> String {
        format!("{}queued", self.prefix)
    }

    /// The run of `task` its worker gave up (see [`Broker::abandon`]).
    pub fn abandoned(&self, task: &uuid::Uuid) -> String {
        format!("{}abandoned:{task}", self.prefix)
    }

    /// What `worker` has taken and not yet acknowledged.
    pub fn processing(&self, worker: &InstanceId) -> String {
        self.processing_of(worker.as_str())
    }

    /// The same, for a worker known only by the name Redis lists it under.
    fn processing_of(&self, worker: &str) -> String {
        format!("{}processing:{worker}", self.prefix)
    }
}

struct Scripts {
    push: Script,
    alive: Script,
    abandon: Script,
    reserve: Script,
    ack: Script,
    retry: Script,
    promote: Script,
    heartbeat: Script,
    expired: Script,
    recover: Script,
    give_back: Script,
}

impl Scripts {
    fn load() -> Self {
        Self {
            push: Script::from_lua(timed!("lua/push.lua")),
            alive: Script::from_lua(timed!("lua/alive.lua")),
            abandon: Script::from_lua(timed!("lua/abandon.lua")),
            reserve: Script::from_lua(include_str!("lua/reserve.lua")),
            ack: Script::from_lua(timed!("lua/ack.lua")),
            retry: Script::from_lua(timed!("lua/retry.lua")),
            promote: Script::from_lua(timed!("lua/promote.lua")),
            heartbeat: Script::from_lua(timed!("lua/heartbeat.lua")),
            expired: Script::from_lua(timed!("lua/expired.lua")),
            recover: Script::from_lua(timed!("lua/recover.lua")),
            give_back: Script::from_lua(include_str!("lua/give_back.lua")),
        }
    }
}

/// A handle on the Redis queue; cheap to clone.
#[derive(Clone)]
pub struct Broker {
    client: Client,
    keys: Keys,
    command_timeout: Duration,
    scripts: Arc<Scripts>,
}

impl Broker {
    /// Starts connecting in the background; commands fail (after the command timeout)
    /// until Redis answers, and the client reconnects on its own after losing it.
    pub fn connect(redis: &RedisSettings, tasks: &TaskSettings) -> Result<Self, QueueError> {
        let mut config = redis
            .url
            .as_ref()
            .map(RedisUrl::client_config)
            .ok_or(QueueError::NotConfigured("this process"))?;
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
            scripts: Arc::new(Scripts::load()),
        })
    }

    /// Waits for the first connection, for at most the command timeout. On a cluster a
    /// script cannot be sent before the client knows which node serves which slot: it
    /// fails at once instead of waiting for the connection as other commands do.
    pub async fn connected(&self) {
        let _ = tokio::time::timeout(self.command_timeout, self.client.wait_for_connect()).await;
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The client, for beat's own keys and scripts (and the lease keeper's exit).
    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    /// Appends messages to the ready list, and marks their tasks queued.
    pub async fn push(&self, messages: &[Message]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        if !self.client.is_connected() {
            // A script sent before a cluster's slots are known fails at once.
            self.connected().await;
        }
        let args: Vec<String> = messages
            .iter()
            .flat_map(|message| [message.id.to_string(), message.encode().into_string()])
            .collect();
        let _: i64 = self
            .scripts
            .push
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.ready(), self.keys.queued()],
                args,
            )
            .await?;
        Ok(())
    }

    /// Which of `tasks` have their message in Redis (pushed, and not yet acknowledged).
    pub async fn queued(&self, tasks: &[uuid::Uuid]) -> Result<Vec<bool>, QueueError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = tasks.iter().map(uuid::Uuid::to_string).collect();
        let scores: Vec<Option<f64>> = self.client.zmscore(self.keys.queued(), ids).await?;
        Ok(scores.into_iter().map(|score| score.is_some()).collect())
    }

    /// Whether each run of another worker, `(worker, task, attempt)`, lives: its worker
    /// holds a lease that has not ended and has not given the run up.
    pub async fn alive(&self, runs: &[(String, uuid::Uuid, i32)]) -> Result<Vec<bool>, QueueError> {
        if runs.is_empty() {
            return Ok(Vec::new());
        }
        let mut keys = vec![self.keys.workers()];
        keys.extend(runs.iter().map(|(_, task, _)| self.keys.abandoned(task)));
        let args: Vec<String> = runs
            .iter()
            .flat_map(|(worker, _, attempt)| [worker.clone(), attempt.to_string()])
            .collect();
        let alive: Vec<i64> = self
            .scripts
            .alive
            .evalsha_with_reload(&self.client, keys, args)
            .await?;
        Ok(alive.into_iter().map(|alive| alive == 1).collect())
    }

    /// Puts a held message back, due after `delay`, for a run (`task`'s `attempt`) that
    /// ended without its state written: noted in Redis (for a day), so that another
    /// worker takes the task over rather than wait for this live worker's run.
    pub async fn abandon(
        &self,
        worker: &InstanceId,
        held: &Encoded,
        task: uuid::Uuid,
        attempt: i32,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let _: i64 = self
            .scripts
            .abandon
            .evalsha_with_reload(
                &self.client,
                vec![
                    self.keys.processing(worker),
                    self.keys.delayed(),
                    self.keys.abandoned(&task),
                ],
                vec![
                    held.as_str().to_owned(),
                    delay.as_millis().to_string(),
                    attempt.to_string(),
                    (24 * 3600 * 1000).to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    /// The same queue on a connection of its own, made on the runtime this is called on
    /// (the lease keeper's: see `worker`).
    pub fn with_own_connection(&self) -> Self {
        let client = self.client.clone_new();
        client.connect();
        Self {
            client,
            ..self.clone()
        }
    }

    /// A second connection for the blocking wait of one worker (a blocked connection
    /// cannot carry other commands).
    pub fn blocking_client(&self) -> Client {
        let client = self.client.clone_new();
        client.connect();
        client
    }

    /// Takes up to `max` messages for `worker`, waiting up to `wait` for the first.
    pub async fn reserve(
        &self,
        blocking: &Client,
        worker: &InstanceId,
        max: usize,
        wait: Duration,
    ) -> Result<Vec<Encoded>, QueueError> {
        let processing = self.keys.processing(worker);
        let taken: Vec<String> = self
            .scripts
            .reserve
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.ready(), processing.clone()],
                max,
            )
            .await?;
        let mut taken: Vec<Encoded> = taken.into_iter().map(Encoded::from_redis).collect();
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
            taken.push(Encoded::from_redis(first));
            if max > 1 {
                let more: Vec<String> = self
                    .scripts
                    .reserve
                    .evalsha_with_reload(&self.client, vec![self.keys.ready(), processing], max - 1)
                    .await?;
                taken.extend(more.into_iter().map(Encoded::from_redis));
            }
        }
        Ok(taken)
    }

    /// Acknowledges held messages; each pushes its `next` only if its acknowledgement is
    /// the first.
    pub async fn ack(&self, worker: &InstanceId, acks: Vec<Ack>) -> Result<(), QueueError> {
        let args: Vec<String> = acks
            .into_iter()
            .flat_map(|ack| {
                let task = ack.task.map(|id| id.to_string()).unwrap_or_default();
                let (next_task, next) = ack
                    .next
                    .map(|(id, next)| (id.to_string(), next.into_string()))
                    .unwrap_or_default();
                [ack.held.into_string(), task, next, next_task]
            })
            .collect();
        let _: i64 = self
            .scripts
            .ack
            .evalsha_with_reload(
                &self.client,
                vec![
                    self.keys.processing(worker),
                    self.keys.ready(),
                    self.keys.queued(),
                ],
                args,
            )
            .await?;
        Ok(())
    }

    /// Replaces a held message by `message`, due after `delay`.
    pub async fn retry_later(
        &self,
        worker: &InstanceId,
        held: &Encoded,
        message: &Message,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.delay(worker, held, &message.encode(), delay).await
    }

    /// Puts a held message back unchanged, due after `delay` (when it could not be handled).
    pub async fn release_later(
        &self,
        worker: &InstanceId,
        held: &Encoded,
        delay: Duration,
    ) -> Result<(), QueueError> {
        self.delay(worker, held, held, delay).await
    }

    async fn delay(
        &self,
        worker: &InstanceId,
        held: &Encoded,
        replacement: &Encoded,
        delay: Duration,
    ) -> Result<(), QueueError> {
        let _: i64 = self
            .scripts
            .retry
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.processing(worker), self.keys.delayed()],
                vec![
                    held.as_str().to_owned(),
                    replacement.as_str().to_owned(),
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
    pub async fn heartbeat(&self, worker: &InstanceId, lease: Duration) -> Result<(), QueueError> {
        let _: i64 = self
            .scripts
            .heartbeat
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.workers()],
                vec![worker.as_str().to_owned(), lease.as_millis().to_string()],
            )
            .await?;
        Ok(())
    }

    /// Returns the messages of dead workers to the queue; returns how many.
    pub async fn recover(&self) -> Result<u64, QueueError> {
        let expired = self.expired().await?;
        if expired.is_empty() {
            return Ok(0);
        }
        self.recover_workers(None, expired, Duration::ZERO).await
    }

    /// Returns `worker`'s unacknowledged messages to the queue as it stops (and those of
    /// dead workers). It stays listed for `grace`, so that a message reaching its list
    /// late is recovered too.
    pub async fn release(&self, worker: &InstanceId, grace: Duration) -> Result<u64, QueueError> {
        let mut workers = self.expired().await?;
        if !workers.iter().any(|name| name == worker.as_str()) {
            workers.push(worker.as_str().to_owned());
        }
        self.recover_workers(Some(worker), workers, grace).await
    }

    /// The workers whose lease has ended, by the names Redis lists them under.
    async fn expired(&self) -> Result<Vec<String>, QueueError> {
        Ok(self
            .scripts
            .expired
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.workers()],
                Vec::<String>::new(),
            )
            .await?)
    }

    /// Recovers `workers` (each checked again in the script), `stopping` among them.
    async fn recover_workers(
        &self,
        stopping: Option<&InstanceId>,
        workers: Vec<String>,
        grace: Duration,
    ) -> Result<u64, QueueError> {
        let mut keys = vec![self.keys.workers(), self.keys.ready()];
        keys.extend(workers.iter().map(|name| self.keys.processing_of(name)));
        let mut args = vec![
            stopping
                .map(|id| id.as_str().to_owned())
                .unwrap_or_default(),
            grace.as_millis().to_string(),
        ];
        args.extend(workers);
        let moved: u64 = self
            .scripts
            .recover
            .evalsha_with_reload(&self.client, keys, args)
            .await?;
        Ok(moved)
    }

    /// What `worker` holds: taken from the queue and not yet acknowledged.
    pub async fn held(&self, worker: &InstanceId) -> Result<Vec<Encoded>, QueueError> {
        let held: Vec<String> = self
            .client
            .lrange(self.keys.processing(worker), 0, -1)
            .await?;
        Ok(held.into_iter().map(Encoded::from_redis).collect())
    }

    /// Puts a held message back at the front of the queue; false if it was not held.
    pub async fn give_back(&self, worker: &InstanceId, held: &Encoded) -> Result<bool, QueueError> {
        let removed: i64 = self
            .scripts
            .give_back
            .evalsha_with_reload(
                &self.client,
                vec![self.keys.processing(worker), self.keys.ready()],
                vec![held.as_str().to_owned()],
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
