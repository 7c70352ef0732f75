//! Task throughput, end to end: `cargo bench --bench tasks`.
//!
//! For each of two tasks, `tasks.ping` (the queue alone) and `persons.add_one_year` over
//! 1,000 persons (a row lock and a commit of its own each), schedules `BENCH_TASKS`
//! (default 20000) tasks one call each, as views do (`controllers::tasks::schedule_task`:
//! a row written, a message pushed), from `BENCH_PRODUCERS` (default 32) concurrent
//! callers, while `BENCH_WORKERS` (default 1) in-process workers of `tasks.concurrency`
//! each run them, until every row says succeeded (for `add_one_year`, every increment is
//! committed with it). `BENCH_PRODUCERS=1` schedules one task after the other, as a caller
//! does in a loop (Celery's `.delay()` in a loop); `BENCH_ONLY=persons.add_one_year` measures
//! that task alone. Uses the settings of `APP_ENV` (dev by default) with the usual
//! overrides; PostgreSQL and Redis must be given:
//!
//! ```text
//! APP__DATABASE__URL=postgres://postgres:postgres@127.0.0.1/bench \
//! APP__REDIS__URL=redis://127.0.0.1:6379 cargo bench --bench tasks
//! ```
use std::time::{Duration, Instant};

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

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
    let producers = env_number("BENCH_PRODUCERS", 32).max(1);
    let mut settings = Settings::load()?;
    if settings.redis.url.is_none() {
        return Err(
            "set APP__REDIS__URL (and APP__DATABASE__URL): the benchmark needs both".into(),
        );
    }
    settings.tasks.eager = false;
    settings.tasks.namespace = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let health = foo::db::Health::default();
    let db = foo::db::connect(&settings.database, &health).await?;
    foo::db::upgrade(&db, None).await?;
    let tasks = foo::tasks::queue(db.clone(), &health, &settings)?;

    println!(
        "workers: {workers} x concurrency {}, database pool {}",
        settings.tasks.concurrency, settings.database.max_connections
    );
    let only = std::env::var("BENCH_ONLY").ok();
    let measured = |name: &str| only.as_deref().is_none_or(|only| only == name);
    if measured("tasks.ping") {
        let pings = (0..total)
            .map(|_| JobCall::new::<Ping>(()))
            .collect::<Result<Vec<_>, _>>()?;
        measure(&tasks, &db, workers, producers, "tasks.ping", pings).await?;
    }
    if !measured("persons.add_one_year") {
        return Ok(());
    }

    // 1,000 persons, as in the original stack's benchmark (at most 150 years each: 150,000 tasks).
    let mut people = Vec::new();
    for _ in 0..total.clamp(1, 1000) {
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
    measure(
        &tasks,
        &db,
        workers,
        producers,
        "persons.add_one_year",
        birthdays,
    )
    .await
}

/// Schedules `calls`, one call each, from `producers` concurrent callers while `workers`
/// workers run them; prints the enqueue rate and the end-to-end rate (from the first
/// enqueue to the last success).
async fn measure(
    tasks: &Queue,
    db: &sea_orm::DatabaseConnection,
    workers: usize,
    producers: usize,
    name: &str,
    calls: Vec<JobCall>,
) -> Result<(), BoxError> {
    let total = calls.len();
    // Workers first: enqueueing and running overlap, as they do in production.
    let on_redis = tasks.on_redis("the benchmark's workers")?;
    let mut stops = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..workers {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let on_redis = on_redis.clone();
        handles.push(tokio::spawn(async move {
            worker::run(on_redis, async {
                let _ = stopped.await;
            })
            .await
        }));
        stops.push(stop);
    }
    // Producer `p` schedules calls p, p + producers, ...
    let mut shares: Vec<Vec<JobCall>> = vec![Vec::new(); producers.min(total.max(1))];
    for (i, call) in calls.into_iter().enumerate() {
        let share = i % shares.len();
        shares[share].push(call);
    }
    let cpu = Cpu::now(db).await;
    let started = Instant::now();
    let mut scheduling = tokio::task::JoinSet::new();
    for share in shares {
        let tasks = tasks.clone();
        scheduling.spawn(async move {
            let mut ids = Vec::with_capacity(share.len());
            for call in share {
                ids.push(controller::schedule_task(&tasks, call, None).await?.id);
            }
            Ok::<_, foo::controllers::Error>(ids)
        });
    }
    let mut ids = Vec::with_capacity(total);
    while let Some(scheduled) = scheduling.join_next().await {
        ids.extend(scheduled??);
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
    let cpu = cpu.since(db, total).await;
    for stop in stops {
        let _ = stop.send(());
    }
    for handle in handles {
        handle.await??;
    }

    let rate = |seconds: f64| total as f64 / seconds;
    println!(
        "{name:<21} {total} tasks, {producers:>2} producers: enqueued at {:>6.0}/s, all succeeded at {:>6.0}/s end to end",
        rate(enqueue.as_secs_f64()),
        rate(end_to_end.as_secs_f64()),
    );
    println!("{:<21} {cpu}", "");
    Ok(())
}

/// CPU time (in clock ticks) of this process and of the PostgreSQL backends serving its
/// database, read from `/proc` (Linux, PostgreSQL on this machine; otherwise left out).
struct Cpu {
    own: Option<u64>,
    backends: std::collections::HashMap<i32, u64>,
}

impl Cpu {
    async fn now(db: &sea_orm::DatabaseConnection) -> Self {
        Self {
            own: ticks("self"),
            backends: backends(db).await,
        }
    }

    /// What was spent since `self`, per task, as a line to print.
    async fn since(self, db: &sea_orm::DatabaseConnection, tasks: usize) -> String {
        let later = Self::now(db).await;
        // Ticks are 1/100 s on Linux; in microseconds per task.
        let per_task = |ticks: u64| ticks as f64 * 10_000.0 / tasks as f64;
        let mut line = String::from("CPU per task:");
        if let (Some(before), Some(after)) = (self.own, later.own) {
            line += &format!(" this process {:.0} us", per_task(after - before));
        }
        if !later.backends.is_empty() {
            // A backend opened during the run counts from zero.
            let spent: u64 = later
                .backends
                .iter()
                .map(|(pid, after)| {
                    after - self.backends.get(pid).copied().unwrap_or(0).min(*after)
                })
                .sum();
            line += &format!(", PostgreSQL backends {:.0} us", per_task(spent));
        }
        line
    }
}

/// User and system CPU ticks of process `pid` (or `self`).
fn ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.get(stat.rfind(')')? + 2..)?.split(' ').collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// The CPU ticks of the backends connected to this database.
async fn backends(db: &sea_orm::DatabaseConnection) -> std::collections::HashMap<i32, u64> {
    let sql = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()";
    let Ok(rows) = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
    else {
        return Default::default();
    };
    rows.iter()
        .filter_map(|row| row.try_get::<i32>("", "pid").ok())
        .filter_map(|pid| Some((pid, ticks(&pid.to_string())?)))
        .collect()
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
