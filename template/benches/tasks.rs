//! Task throughput, end to end: `cargo bench --bench tasks`.
//!
//! For each of two tasks, `tasks.ping` (the queue alone) and `persons.add_one_year` (plus
//! a transaction of its own), schedules `BENCH_TASKS` (default 20000) tasks through the
//! controllers (rows written, messages pushed) while `BENCH_WORKERS` (default 1)
//! in-process workers of `tasks.concurrency` each run them, until every row says
//! succeeded. Uses the settings of `APP_ENV` (dev by default) with the usual overrides;
//! PostgreSQL and Redis must be given:
//!
//! ```text
//! APP__DATABASE__URL=postgres://postgres:postgres@127.0.0.1/bench \
//! APP__REDIS__URL=redis://127.0.0.1:6379 cargo bench --bench tasks
//! ```
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

// The service's own items: a group apart, so that their order never depends on its name.
use foo::config::Settings;
use foo::controllers::{persons, tasks as controller};
use foo::models::task::{self, State};
use foo::queue::{JobCall, Queue, worker};
use foo::tasks::maintenance::Ping;
use foo::tasks::persons::{AddOneYear, AddOneYearArgs};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let total = env_number("BENCH_TASKS", 20_000);
    let workers = env_number("BENCH_WORKERS", 1).max(1);
    let mut settings = Settings::load()?;
    if settings.redis.url.is_none() {
        return Err(
            "set APP__REDIS__URL (and APP__DATABASE__URL): the benchmark needs both".into(),
        );
    }
    settings.tasks.eager = false;
    settings.tasks.namespace = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let db = foo::db::connect(&settings.database).await?;
    foo::db::upgrade(&db, None).await?;
    let registry = foo::tasks::registry();
    let tasks = Queue::new(db.clone(), &settings.redis, &settings.tasks, registry)?;

    println!(
        "workers: {workers} x concurrency {}, database pool {}",
        settings.tasks.concurrency, settings.database.max_connections
    );
    let pings = (0..total)
        .map(|_| JobCall::new::<Ping>(()))
        .collect::<Result<Vec<_>, _>>()?;
    measure(&tasks, &db, workers, "tasks.ping", pings).await?;

    // 100 birthdays per person keeps every age within bounds.
    let mut people = Vec::new();
    for _ in 0..total.div_ceil(100) {
        let input = persons::PersonInput {
            name: "Bench".into(),
            age: 0,
        };
        people.push(persons::create(&db, input).await?.id);
    }
    let birthdays: Vec<JobCall> = (0..total)
        .map(|i| {
            JobCall::new::<AddOneYear>(AddOneYearArgs {
                person_id: people[i % people.len()],
                pause_ms: 0,
            })
        })
        .collect::<Result<_, _>>()?;
    measure(&tasks, &db, workers, "persons.add_one_year", birthdays).await
}

/// Schedules `calls` while `workers` workers run them; prints the enqueue rate and the
/// end-to-end rate (from the first enqueue to the last success).
async fn measure(
    tasks: &Queue,
    db: &sea_orm::DatabaseConnection,
    workers: usize,
    name: &str,
    calls: Vec<JobCall>,
) -> Result<(), BoxError> {
    let total = calls.len();
    // Workers first: enqueueing and running overlap, as they do in production.
    let started = Instant::now();
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let tasks = tasks.clone();
        handles.push(tokio::spawn(async move {
            worker::run(tasks, async {
                let _ = stopped.await;
            })
            .await
        }));
        stops.push(stop);
    }
    let mut ids = Vec::with_capacity(total);
    for batch in calls.chunks(500) {
        let rows = controller::schedule_many(tasks, batch.to_vec(), None).await?;
        ids.extend(rows.into_iter().map(|row| row.id));
    }
    let enqueue = started.elapsed();
    loop {
        let done = task::Entity::find()
            .filter(task::Column::State.eq(State::Succeeded))
            .filter(task::Column::Id.is_in(ids[ids.len() - 1..].to_vec()))
            .count(db)
            .await?;
        if done == 1 {
            let all = finished(db, &ids).await?;
            if all == total as u64 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let end_to_end = started.elapsed();
    for stop in stops {
        let _ = stop.send(());
    }
    for handle in handles {
        handle.await??;
    }

    let rate = |seconds: f64| total as f64 / seconds;
    println!(
        "{name:<21} {total} tasks: enqueued at {:>6.0}/s, all succeeded at {:>6.0}/s end to end",
        rate(enqueue.as_secs_f64()),
        rate(end_to_end.as_secs_f64()),
    );
    Ok(())
}

/// How many of `ids` succeeded.
async fn finished(db: &sea_orm::DatabaseConnection, ids: &[uuid::Uuid]) -> Result<u64, BoxError> {
    let mut done = 0;
    for batch in ids.chunks(1000) {
        done += task::Entity::find()
            .filter(task::Column::State.eq(State::Succeeded))
            .filter(task::Column::Id.is_in(batch.to_vec()))
            .count(db)
            .await?;
    }
    Ok(done)
}
