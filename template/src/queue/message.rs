//! What the queue carries: one attempt of one task, and its encoded form in Redis.
use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::JobCall;
use crate::telemetry::{self, trace::TraceContext};

/// One attempt of a task, as carried by the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The id of the task's row.
    pub id: Uuid,
    /// The name of the job to run (`Job::NAME`).
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
    /// The trace of the span that scheduled the task (tracing on): the worker's run of
    /// the task, each attempt, is that span's child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceContext>,
}

impl Message {
    /// The first attempt of task `id`, a call of its job (a chain's rest is added after),
    /// in the trace of the current span.
    pub fn first(call: JobCall, id: Uuid, request_id: Option<String>) -> Self {
        Self {
            id,
            name: call.name.to_owned(),
            args: call.args,
            attempt: 1,
            max_retries: call.max_retries,
            request_id,
            chain: Vec::new(),
            trace: telemetry::trace::current(),
        }
    }

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

    /// The ids of the tasks that follow this one in its chain.
    pub fn chain_ids(&self) -> Vec<Uuid> {
        self.chain.iter().map(|message| message.id).collect()
    }

    pub fn encode(&self) -> Encoded {
        // A struct of strings, numbers and JSON values always serializes.
        Encoded(serde_json::to_string(self).unwrap_or_default())
    }
}

/// A message as Redis stores it: its JSON text, which is also how a worker's list names
/// it when it is acknowledged, retried or given back.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Encoded(String);

impl Encoded {
    /// Wraps text read from Redis (it may not be a message at all: see [`Self::decode`]).
    pub fn from_redis(text: String) -> Self {
        Self(text)
    }

    pub fn decode(&self) -> Result<Message, serde_json::Error> {
        serde_json::from_str(&self.0)
    }

    /// The id and name of a message that does not decode, as far as they can be read.
    pub fn envelope(&self) -> Envelope {
        serde_json::from_str(&self.0).unwrap_or_default()
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for Encoded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The acknowledgement of a held message, with the chain's next message to push if this
/// acknowledgement is the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub held: Encoded,
    /// The task it carried (unknown for a message that cannot be read).
    pub task: Option<Uuid>,
    /// The chain's next task, and its message.
    pub next: Option<(Uuid, Encoded)>,
}

/// What can be read of a message that does not decode: its task's id and name, if they
/// are there (the fields a log line may show; never the arguments).
#[derive(Debug, Default, Deserialize)]
pub struct Envelope {
    #[serde(default)]
    pub id: Option<Uuid>,
    #[serde(default)]
    pub name: Option<String>,
}

/// A name that tells `worker` and `beat` processes apart in Redis and in logs:
/// `host-pid-random` (the host as the logs name it). Beat's tests read the pid from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceId(String);

impl InstanceId {
    /// A new id for this process.
    pub fn generate() -> Self {
        let host = crate::telemetry::hostname();
        let random = Uuid::new_v4().simple().to_string();
        Self(format!("{host}-{}-{}", std::process::id(), &random[..8]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
