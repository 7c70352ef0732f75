//! `worker`: takes tasks from the queue and runs them, `tasks.concurrency` at a time.
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fred::prelude::ClientLike;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::backoff::{Backoff, Failures};
use super::batch::Batcher;
use super::message::{Ack, Encoded, InstanceId, Message};
use super::recorder::{Recorder, Running};
use super::runner::{self, Outcome};
use super::store::Start;
use super::{Broker, Queue, QueueError, RedisQueue, requeue};

/// How long one wait on an empty queue lasts (shutdown is noticed in between).
const WAIT: Duration = Duration::from_secs(1);

/// The pauses between tries while Redis is away: from 200 ms up to 5 s.
const REDIS_AWAY: Backoff = Backoff::new(200, 5_000);

/// Runs until `shutdown` completes, then lets running tasks finish (for at most
/// `tasks.shutdown_timeout_secs`) and gives back what it took but did not start.
pub async fn run(queue: RedisQueue, shutdown: impl Future<Output = ()>) -> Result<(), QueueError> {
    let broker = queue.broker().clone();
    let queue = queue.queue().clone();
    let settings = queue.settings().clone();
    let id = InstanceId::generate();
    let lease = Duration::from_secs(settings.worker_lease_secs);

    let blocking = broker.blocking_client();
    let in_flight = InFlight::default();
    broker.connected().await;
    // Listed before it takes anything, so that its tasks are never unowned.
    broker.heartbeat(&id, lease).await?;
    let lease_keeper = LeaseKeeper::start(&broker, &id, lease)?;
    let upkeep = tokio::spawn(upkeep(
        queue.clone(),
        broker.clone(),
        id.clone(),
        lease,
        Duration::from_millis(settings.poll_interval_ms),
        in_flight.clone(),
    ));
    tracing::info!(worker = %id, concurrency = settings.concurrency, "worker started");

    let running_tasks = Running::default();
    let handler = Handler {
        recorder: Recorder::batched(
            queue.db().clone(),
            queue.health().clone(),
            broker.clone(),
            id.clone(),
            running_tasks.clone(),
        ),
        acker: acker(broker.clone(), id.clone()),
        queue,
        running: running_tasks,
        broker: broker.clone(),
        worker: id.clone(),
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let slots = Slots::new(settings.concurrency, in_flight, stopped);
    let mut running = JoinSet::new();
    take_and_run(&handler, &blocking, &slots, &mut running, shutdown).await;
    let _ = stop.send(true);

    let grace = Duration::from_secs(settings.shutdown_timeout_secs);
    finish(running, grace).await;
    upkeep.abort();
    lease_keeper.stop().await;
    let _ = blocking.quit().await;
    let released = broker.release(&id, lease).await?;
    tracing::info!(released, "worker stopped");
    Ok(())
}

/// What the messages a worker took share: room to hold them and to run them, and what
/// became of them.
#[derive(Clone)]
struct Slots {
    /// Up to twice `concurrency` messages are held (taken from the queue), so that the
    /// next tasks are at hand when a running one ends.
    held: Arc<Semaphore>,
    /// `concurrency` of them run.
    runners: Arc<Semaphore>,
    /// While messages held here wait for a runner, nothing idles for want of a message:
    /// the next ones are asked for once a quarter of the holding capacity is free, in one
    /// trip, rather than one trip per task that ends.
    refill: usize,
    waiting: Waiting,
    in_flight: InFlight,
    /// True once the worker stops: held messages not started are left to `release`.
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl Slots {
    fn new(
        concurrency: usize,
        in_flight: InFlight,
        stopped: tokio::sync::watch::Receiver<bool>,
    ) -> Self {
        Self {
            held: Arc::new(Semaphore::new(concurrency * 2)),
            runners: Arc::new(Semaphore::new(concurrency)),
            refill: (concurrency / 2).max(1),
            waiting: Waiting::default(),
            in_flight,
            stopped,
        }
    }
}

/// Takes messages from the queue, as room to hold them comes free, and runs each on a
/// task of `running`, until `shutdown` completes.
async fn take_and_run(
    handler: &Handler,
    blocking: &fred::prelude::Client,
    slots: &Slots,
    running: &mut JoinSet<()>,
    shutdown: impl Future<Output = ()>,
) {
    let (broker, id) = (&handler.broker, &handler.worker);
    tokio::pin!(shutdown);
    let mut failures = Failures::new(REDIS_AWAY);
    let mut stopping = false;
    loop {
        while running.try_join_next().is_some() {}
        if stopping {
            break;
        }
        let hold = tokio::select! {
            () = &mut shutdown => break,
            hold = slots.held.clone().acquire_owned() => hold,
        };
        let Ok(hold) = hold else { break };
        let refilled = slots
            .waiting
            .until_refill(&slots.held, slots.refill, shutdown.as_mut());
        if !refilled.await {
            break;
        }
        let free = 1 + slots.held.available_permits();
        // Never cancelled half-way: a wait cut short could still move a message to this
        // worker after it stopped. It lasts at most WAIT.
        let reserved = broker.reserve(blocking, id, free, WAIT).await;
        stopping = has_completed(shutdown.as_mut()).await;
        match reserved {
            Ok(taken) => {
                failures.reset();
                slots.in_flight.add(&taken);
                let batch = read_batch(broker, id, taken, &slots.in_flight).await;
                slots.waiting.add(batch.len());
                let mut hold = Some(hold);
                for (encoded, message) in batch {
                    let hold = hold
                        .take()
                        .or_else(|| slots.held.clone().try_acquire_owned().ok());
                    let (handler, slots) = (handler.clone(), slots.clone());
                    running.spawn(run_held(handler, slots, hold, encoded, message));
                }
            }
            Err(error) => {
                let delay = failures.next_wait();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "cannot take tasks from Redis");
                tokio::select! {
                    () = &mut shutdown, if !stopping => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
}

/// Runs a message held under `hold` once a runner is free; a worker that stops first
/// leaves it, not started, for `release` to give back.
async fn run_held(
    handler: Handler,
    mut slots: Slots,
    hold: Option<OwnedSemaphorePermit>,
    encoded: Encoded,
    message: Message,
) {
    let Some(hold) = hold else {
        // More taken than could be held: cannot happen, but never strand one.
        slots.waiting.remove();
        settle(|| handler.broker.give_back(&handler.worker, &encoded)).await;
        slots.in_flight.remove(&encoded);
        return;
    };
    let run = tokio::select! {
        run = slots.runners.acquire() => run.ok(),
        _ = slots.stopped.wait_for(|stop| *stop) => None,
    };
    slots.waiting.remove();
    if let Some(run) = run {
        handler.handle(&encoded, message).await;
        slots.in_flight.remove(&encoded);
        drop(run);
    }
    drop(hold);
    slots.waiting.changed();
}

/// Lets the tasks of `running` finish, for at most `grace`; then aborts the rest (their
/// messages go back to the queue with the worker's release).
async fn finish(mut running: JoinSet<()>, grace: Duration) {
    tracing::info!(
        running = running.len(),
        "worker stopping, waiting for running tasks"
    );
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
}

/// Keeps the worker's lease alive from a thread of its own, with its own runtime and
/// Redis connection: a task body that blocks the worker's threads (a long computation,
/// synchronous I/O) must not let the lease lapse while the worker lives, or its tasks
/// would be taken over and run twice.
struct LeaseKeeper {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl LeaseKeeper {
    fn start(broker: &Broker, id: &InstanceId, lease: Duration) -> Result<Self, QueueError> {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| QueueError::Thread(error.to_string()))?;
        let (broker, id) = (broker.clone(), id.clone());
        let thread = std::thread::Builder::new()
            .name("worker-lease".into())
            .spawn(move || {
                runtime.block_on(async move {
                    // Connected on this runtime, so that its I/O runs here too.
                    let broker = broker.with_own_connection();
                    broker.connected().await;
                    loop {
                        if let Err(error) = broker.heartbeat(&id, lease).await {
                            tracing::warn!(%error, "cannot renew the worker's lease");
                        }
                        tokio::select! {
                            _ = &mut stopped => break,
                            () = tokio::time::sleep(lease / 4) => {}
                        }
                    }
                    let _ = broker.client().quit().await;
                });
            })
            .map_err(|error| QueueError::Thread(error.to_string()))?;
        Ok(Self { stop, thread })
    }

    /// Stops renewing (the worker then releases its lease itself).
    async fn stop(self) {
        let _ = self.stop.send(());
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Moves due retries to the queue, recovers dead workers' tasks, gives back what this
/// worker holds but no longer handles (a reply lost to a timeout, say) once it has seen
/// it unhandled twice in a row, and now and then pushes again tasks whose push was lost.
async fn upkeep(
    queue: Queue,
    broker: Broker,
    id: InstanceId,
    lease: Duration,
    poll: Duration,
    in_flight: InFlight,
) {
    let requeue_after = Duration::from_secs(queue.settings().requeue_after_secs);
    let mut last_sweep = tokio::time::Instant::now();
    let mut last_scan = tokio::time::Instant::now();
    let mut suspects: HashSet<Encoded> = HashSet::new();
    loop {
        match broker.recover().await {
            Ok(0) => {}
            Ok(moved) => tracing::warn!(moved, "tasks of a dead worker went back to the queue"),
            Err(error) => tracing::debug!(%error, "cannot check for dead workers"),
        }
        if let Err(error) = broker.promote_due().await {
            tracing::debug!(%error, "cannot move due retries");
        }
        if last_sweep.elapsed() >= requeue::every(requeue_after) {
            last_sweep = tokio::time::Instant::now();
            if let Err(error) = requeue::sweep(queue.db(), &broker, requeue_after).await {
                tracing::debug!(%error, "cannot look for tasks whose push was lost");
            }
        }
        if last_scan.elapsed() >= lease {
            last_scan = tokio::time::Instant::now();
            if let Ok(held) = broker.held(&id).await {
                let unhandled: HashSet<Encoded> = held
                    .into_iter()
                    .filter(|held| !in_flight.contains(held))
                    .collect();
                for held in unhandled.intersection(&suspects) {
                    if let Ok(true) = broker.give_back(&id, held).await {
                        tracing::warn!("a task held but not handled went back to the queue");
                    }
                }
                suspects = unhandled;
            }
        }
        tokio::time::sleep(poll).await;
    }
}

/// How many held messages wait for a runner, and a signal when that or the free holding
/// capacity changes.
#[derive(Clone, Default)]
struct Waiting(Arc<(AtomicUsize, Notify)>);

impl Waiting {
    fn add(&self, count: usize) {
        self.0.0.fetch_add(count, Ordering::AcqRel);
    }

    /// One of them got a runner (or will never run here).
    fn remove(&self) {
        self.0.0.fetch_sub(1, Ordering::AcqRel);
        self.changed();
    }

    fn changed(&self) {
        self.0.1.notify_waiters();
    }

    /// Holding one permit of `held`, waits until `refill` permits are free or nothing
    /// waits for a runner (so a lone task is never kept waiting). False if `shutdown`
    /// completed meanwhile.
    async fn until_refill(
        &self,
        held: &Semaphore,
        refill: usize,
        mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> bool {
        loop {
            let changed = self.0.1.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if 1 + held.available_permits() >= refill || self.0.0.load(Ordering::Acquire) == 0 {
                return true;
            }
            tokio::select! {
                () = shutdown.as_mut() => return false,
                () = changed => {}
            }
        }
    }
}

/// The messages this worker is handling.
#[derive(Clone, Default)]
struct InFlight(Arc<Mutex<HashSet<Encoded>>>);

impl InFlight {
    fn add(&self, taken: &[Encoded]) {
        if let Ok(mut set) = self.0.lock() {
            set.extend(taken.iter().cloned());
        }
    }

    fn remove(&self, held: &Encoded) {
        if let Ok(mut set) = self.0.lock() {
            set.remove(held);
        }
    }

    fn contains(&self, held: &Encoded) -> bool {
        self.0.lock().is_ok_and(|set| set.contains(held))
    }
}

/// Whether `future` has completed, without waiting for it.
async fn has_completed(future: std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    let mut future = future;
    std::future::poll_fn(|cx| std::task::Poll::Ready(future.as_mut().poll(cx).is_ready())).await
}

/// Decodes reserved messages; unreadable ones are dropped (and logged).
async fn read_batch(
    broker: &Broker,
    worker: &InstanceId,
    taken: Vec<Encoded>,
    in_flight: &InFlight,
) -> Vec<(Encoded, Message)> {
    let mut batch = Vec::with_capacity(taken.len());
    for held in taken {
        match held.decode() {
            Ok(message) => batch.push((held, message)),
            Err(error) => {
                // Never its content: it may hold anything, the arguments included (and
                // serde's message quotes the value it choked on).
                let envelope = held.envelope();
                tracing::error!(
                    task_id = %envelope.id.map(|id| id.to_string()).unwrap_or_else(|| "-".into()),
                    task = envelope.name.as_deref().unwrap_or("-"),
                    bytes = held.len(),
                    error = ?error.classify(),
                    line = error.line(),
                    column = error.column(),
                    "unreadable message dropped"
                );
                let ack = Ack {
                    held: held.clone(),
                    task: envelope.id,
                    next: None,
                };
                settle(|| broker.ack(worker, vec![ack.clone()])).await;
                in_flight.remove(&held);
            }
        }
    }
    batch
}

/// Acknowledges messages in batches (one Redis script for those that end together).
type Acker = Batcher<Ack, Result<(), QueueError>>;

/// Acknowledges messages in batches (one Redis script for those that end together).
fn acker(broker: Broker, worker: InstanceId) -> Acker {
    Batcher::start(move |acks: Vec<Ack>| {
        let (broker, worker) = (broker.clone(), worker.clone());
        async move {
            let count = acks.len();
            let acked = broker.ack(&worker, acks).await;
            vec![acked; count]
        }
    })
}

/// What handling one message needs.
#[derive(Clone)]
struct Handler {
    queue: Queue,
    running: Running,
    recorder: Recorder,
    acker: Acker,
    broker: Broker,
    worker: InstanceId,
}

impl Handler {
    /// Runs one message and tells the broker what became of it.
    async fn handle(&self, held: &Encoded, message: Message) {
        let (broker, worker) = (&self.broker, &self.worker);
        let (outcome, run) = match self.recorder.start(message.id).await {
            Ok(start) => {
                let run = match &start {
                    Start::Run(run) => Some(*run),
                    _ => None,
                };
                let outcome = runner::process(&self.queue, &self.recorder, &message, start).await;
                if run.is_some() {
                    self.running.remove(message.id);
                }
                (outcome, run)
            }
            Err(error) => (Err(error), None),
        };
        match outcome {
            Ok(Outcome::Done { next }) => {
                let ack = Ack {
                    held: held.clone(),
                    task: Some(message.id),
                    next: next.as_ref().map(|next| (next.id, next.encode())),
                };
                settle(|| async {
                    self.acker
                        .write(ack.clone())
                        .await
                        .unwrap_or(Err(QueueError::Stopped("acknowledger")))
                })
                .await;
            }
            Ok(Outcome::Retry { message, delay }) => {
                settle(|| broker.retry_later(worker, held, &message, delay)).await;
            }
            Ok(Outcome::Later { delay }) => {
                settle(|| broker.release_later(worker, held, delay)).await;
            }
            Err(error) => {
                tracing::error!(task_id = %message.id, %error, "cannot record the task's state; it will run again");
                let delay = Duration::from_secs(5);
                match run {
                    // Its run is over: say so, so that whichever worker gets the task
                    // next takes it over.
                    Some(run) => {
                        settle(|| broker.abandon(worker, held, run.task, run.attempt, delay)).await;
                    }
                    None => settle(|| broker.release_later(worker, held, delay)).await,
                }
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
    let mut failures = Failures::new(REDIS_AWAY);
    for _ in 0..20 {
        match update().await {
            Ok(_) => return,
            Err(error) => {
                let delay = failures.next_wait();
                tracing::warn!(%error, retry_in_ms = delay.as_millis() as u64, "cannot update the queue");
                tokio::time::sleep(delay).await;
            }
        }
    }
    tracing::error!("gave up updating the queue; the task will be delivered again");
}
