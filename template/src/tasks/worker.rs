//! `worker`: takes tasks from the queue and runs them, `tasks.concurrency` at a time.
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::prelude::ClientLike;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::batch::Batcher;
use super::recorder::Recorder;
use super::runner::{self, Outcome};
use super::{Message, Queue, QueueError, Tasks};

/// How long one wait on an empty queue lasts (shutdown is noticed in between).
const WAIT: Duration = Duration::from_secs(1);

/// Runs until `shutdown` completes, then lets running tasks finish (for at most
/// `tasks.shutdown_timeout_secs`) and gives back what it took but did not start.
pub async fn run(tasks: Tasks, shutdown: impl Future<Output = ()>) -> Result<(), QueueError> {
    let Some(queue) = tasks.queue().cloned() else {
        return Err(QueueError::new(
            "the worker needs redis.url, with tasks.eager off (otherwise tasks run in-process)",
        ));
    };
    let settings = tasks.settings().clone();
    let id = super::instance_id("worker");
    let lease = Duration::from_secs(settings.worker_lease_secs);
    tokio::pin!(shutdown);

    let blocking = queue.blocking_client().await?;
    let in_flight = InFlight::default();
    // Listed before it takes anything, so that its tasks are never unowned.
    queue.heartbeat(&id, lease).await?;
    let lease_keeper = tokio::spawn(keep_lease(queue.clone(), id.clone(), lease));
    let upkeep = tokio::spawn(upkeep(
        queue.clone(),
        id.clone(),
        lease,
        Duration::from_millis(settings.poll_interval_ms),
        in_flight.clone(),
    ));
    tracing::info!(worker = %id, concurrency = settings.concurrency, "worker started");

    let recorder = Recorder::batched(tasks.db.clone());
    let acker = acker(queue.clone(), id.clone());
    // Up to twice `concurrency` messages are held (taken from the queue), so that the
    // next tasks are at hand when a running one ends; `concurrency` of them run.
    let held = Arc::new(Semaphore::new(settings.concurrency * 2));
    let runners = Arc::new(Semaphore::new(settings.concurrency));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut running = JoinSet::new();
    let mut pause = Backoff::default();
    let mut stopping = false;
    loop {
        while running.try_join_next().is_some() {}
        if stopping {
            break;
        }
        let hold = tokio::select! {
            () = &mut shutdown => break,
            hold = held.clone().acquire_owned() => hold,
        };
        let Ok(hold) = hold else { break };
        let free = 1 + held.available_permits();
        // Never cancelled half-way: a wait cut short could still move a message to this
        // worker after it stopped. It lasts at most WAIT.
        let reserved = queue.reserve(&blocking, &id, free, WAIT).await;
        stopping = has_completed(shutdown.as_mut()).await;
        match reserved {
            Ok(raws) => {
                pause.reset();
                in_flight.add(&raws);
                let batch = read_batch(&queue, &id, raws, &in_flight).await;
                let mut hold = Some(hold);
                for (raw, message) in batch {
                    let hold = hold
                        .take()
                        .or_else(|| held.clone().try_acquire_owned().ok());
                    let job = Job {
                        tasks: tasks.clone(),
                        recorder: recorder.clone(),
                        acker: acker.clone(),
                        queue: queue.clone(),
                        worker: id.clone(),
                    };
                    let (runners, mut stopped, in_flight) =
                        (runners.clone(), stopped.clone(), in_flight.clone());
                    running.spawn(async move {
                        let Some(hold) = hold else {
                            // More taken than could be held: cannot happen, but never strand one.
                            settle(|| job.queue.give_back(&job.worker, &raw)).await;
                            in_flight.remove(&raw);
                            return;
                        };
                        let run = tokio::select! {
                            run = runners.acquire_owned() => run.ok(),
                            // Stopping: not started, so left for `release` to give back.
                            _ = stopped.wait_for(|stop| *stop) => None,
                        };
                        if let Some(run) = run {
                            job.handle(&raw, message).await;
                            in_flight.remove(&raw);
                            drop(run);
                        }
                        drop(hold);
                    });
                }
            }
            Err(error) => {
                let delay = pause.next();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "cannot take tasks from Redis");
                tokio::select! {
                    () = &mut shutdown, if !stopping => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    let _ = stop.send(true);

    tracing::info!(
        running = running.len(),
        "worker stopping, waiting for running tasks"
    );
    let grace = Duration::from_secs(settings.shutdown_timeout_secs);
    let drained = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            running = running.len(),
            "tasks still running at the shutdown deadline: they go back to the queue"
        );
        running.abort_all();
    }
    upkeep.abort();
    lease_keeper.abort();
    let _ = blocking.quit().await;
    let released = queue.release(&id, lease).await?;
    tracing::info!(released, "worker stopped");
    Ok(())
}

/// Keeps the worker's lease alive, on a loop of its own so that nothing delays it.
async fn keep_lease(queue: Queue, id: String, lease: Duration) {
    loop {
        if let Err(error) = queue.heartbeat(&id, lease).await {
            tracing::warn!(%error, "cannot renew the worker's lease");
        }
        tokio::time::sleep(lease / 4).await;
    }
}

/// Moves due retries to the queue, recovers dead workers' tasks, and gives back what
/// this worker holds but no longer handles (a reply lost to a timeout, say), once it has
/// seen it unhandled twice in a row.
async fn upkeep(queue: Queue, id: String, lease: Duration, poll: Duration, in_flight: InFlight) {
    let mut last_scan = tokio::time::Instant::now();
    let mut suspects: HashSet<String> = HashSet::new();
    loop {
        match queue.recover().await {
            Ok(0) => {}
            Ok(moved) => tracing::warn!(moved, "tasks of a dead worker went back to the queue"),
            Err(error) => tracing::debug!(%error, "cannot check for dead workers"),
        }
        if let Err(error) = queue.promote_due().await {
            tracing::debug!(%error, "cannot move due retries");
        }
        if last_scan.elapsed() >= lease {
            last_scan = tokio::time::Instant::now();
            if let Ok(held) = queue.held(&id).await {
                let unhandled: HashSet<String> = held
                    .into_iter()
                    .filter(|raw| !in_flight.contains(raw))
                    .collect();
                for raw in unhandled.intersection(&suspects) {
                    if let Ok(true) = queue.give_back(&id, raw).await {
                        tracing::warn!("a task held but not handled went back to the queue");
                    }
                }
                suspects = unhandled;
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// The messages this worker is handling.
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<HashSet<String>>>);

impl InFlight {
    fn add(&self, raws: &[String]) {
        if let Ok(mut set) = self.0.lock() {
            set.extend(raws.iter().cloned());
        }
    }

    fn remove(&self, raw: &str) {
        if let Ok(mut set) = self.0.lock() {
            set.remove(raw);
        }
    }

    fn contains(&self, raw: &str) -> bool {
        self.0.lock().is_ok_and(|set| set.contains(raw))
    }
}

/// Whether `future` has completed, without waiting for it.
async fn has_completed(future: std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    let mut future = future;
    std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx).is_ready())).await
}

/// Decodes reserved messages; unreadable ones are dropped (and logged).
async fn read_batch(
    queue: &Queue,
    worker: &str,
    raws: Vec<String>,
    in_flight: &InFlight,
) -> Vec<(String, Message)> {
    let mut batch = Vec::with_capacity(raws.len());
    for raw in raws {
        match serde_json::from_str(&raw) {
            Ok(message) => batch.push((raw, message)),
            Err(error) => {
                tracing::error!(%error, message = %raw, "unreadable message dropped");
                settle(|| queue.ack(worker, &raw, None)).await;
                in_flight.remove(&raw);
            }
        }
    }
    batch
}

/// Acknowledges messages in batches (one Redis script for those that end together).
fn acker(queue: Queue, worker: String) -> Batcher<(String, String), Result<(), String>> {
    Batcher::start(move |acks: Vec<(String, String)>| {
        let (queue, worker) = (queue.clone(), worker.clone());
        async move {
            let count = acks.len();
            let acked = queue
                .ack_many(&worker, acks)
                .await
                .map_err(|e| e.to_string());
            vec![acked; count]
        }
    })
}

/// What handling one message needs.
struct Job {
    tasks: Tasks,
    recorder: Recorder,
    acker: Batcher<(String, String), Result<(), String>>,
    queue: Queue,
    worker: String,
}

impl Job {
    /// Runs one message and tells the queue what became of it.
    async fn handle(&self, raw: &str, message: Message) {
        let (queue, worker) = (&self.queue, self.worker.as_str());
        let outcome = match self.recorder.start(message.id).await {
            Ok(start) => runner::process(&self.tasks, &self.recorder, &message, start).await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(Outcome::Done { next }) => {
                let next = next.as_ref().map(Message::encode).unwrap_or_default();
                settle(|| async {
                    match self.acker.write((raw.to_owned(), next.clone())).await {
                        Some(Ok(())) => Ok(()),
                        Some(Err(error)) => Err(QueueError::new(error)),
                        None => Err(QueueError::new("the acknowledger stopped")),
                    }
                })
                .await;
            }
            Ok(Outcome::Retry { message, delay }) => {
                settle(|| queue.retry_later(worker, raw, &message, delay)).await;
            }
            Err(error) => {
                tracing::error!(task_id = %message.id, %error, "cannot record the task's state; it will run again");
                settle(|| queue.release_later(worker, raw, Duration::from_secs(5))).await;
            }
        }
    }
}

/// Retries a queue update while Redis is away (for about a minute). If it never
/// succeeds, the message stays with this worker and goes back to the queue when the
/// worker stops or is presumed dead.
async fn settle<T, F, Fut>(mut update: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QueueError>>,
{
    let mut pause = Backoff::default();
    for _ in 0..20 {
        match update().await {
            Ok(_) => return,
            Err(error) => {
                let delay = pause.next();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "cannot update the queue");
                tokio::time::sleep(delay).await;
            }
        }
    }
    tracing::error!("gave up updating the queue; the task will be delivered again");
}

/// Waits that grow from 100 ms to 5 s.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        Duration::from_millis((100u64 << self.failures.min(6)).min(5_000))
    }

    fn reset(&mut self) {
        self.failures = 0;
    }
}
