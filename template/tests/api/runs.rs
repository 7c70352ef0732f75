//! The task engine's guarantees when runs overlap (a worker paused past its lease, a
//! message delivered twice): every task succeeds once and its effects apply once.
use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use sea_orm::{ConnectionTrait, TransactionTrait};
use uuid::Uuid;

use crate::service::controllers::tasks::{schedule_many, schedule_task};
use crate::service::models::task::State;
use crate::service::queue::{Job, JobCall, Keys, Message, Origin, store, worker};
use crate::service::tasks::persons::AddOneYear;
use crate::support::app::test_settings;
use crate::support::fixtures::add_one_year;
use crate::support::process::Process;
use crate::support::redis::{TestRedis, on_redis_and_cluster};
use crate::support::tasks::TaskWorld;
use crate::support::test_tasks::{self, BLOCKS_RUNS, blocks, flaky, nul_result};
use crate::support::{eventually, skip};

const PATIENCE: Duration = Duration::from_secs(30);

on_redis_and_cluster!(a_worker_paused_past_its_lease_mid_run_applies_nothing_twice);
async fn a_worker_paused_past_its_lease_mid_run_applies_nothing_twice(redis: TestRedis) {
    const TASKS: usize = 6;
    let world = TaskWorld::new(&redis).await;
    let mut persons = Vec::new();
    for _ in 0..TASKS {
        persons.push(world.person(0).await);
    }
    // Each body waits 4 s before its transaction: the pause lands inside it.
    let calls = persons.iter().map(|id| add_one_year(*id, 4000)).collect();
    let tasks = schedule_many(&world.tasks, calls, None)
        .await
        .expect("scheduled");
    let env = redis.env(&world.database.url);
    let paused = Process::start("worker", &env);
    for task in &tasks {
        world.reaches(task.id, State::Started, PATIENCE).await;
    }
    paused.signal("STOP");
    let finished = "SELECT COUNT(*) FROM tasks WHERE state = 'succeeded'";
    assert_eq!(
        world.count(finished).await,
        0,
        "paused before any body ended (too slow a machine for this test?)"
    );

    // Its lease (2 s) runs out: another worker takes its tasks over and runs them.
    let other = Process::start("worker", &env);
    for task in &tasks {
        let done = world.finished(task.id, PATIENCE).await;
        assert_eq!(done.state, State::Succeeded, "{}", other.output());
    }
    // The paused runs wake up inside their bodies, with their writes still to make.
    paused.signal("CONT");
    let ended = eventually(
        PATIENCE,
        async || runs_ended(&paused.output()),
        |ended| *ended >= TASKS,
    )
    .await;
    assert_eq!(ended, TASKS, "the paused runs ended:\n{}", paused.output());

    for id in &persons {
        assert_eq!(world.age(*id).await, 1, "person {id}: one year, not two");
    }
    for task in &tasks {
        let done = world.finished(task.id, Duration::ZERO).await;
        assert_eq!(done.state, State::Succeeded);
        assert_eq!(
            done.attempts, 2,
            "started twice: the paused run, then the other"
        );
    }
    let superseded = paused.output().matches("task superseded").count();
    assert_eq!(superseded, TASKS, "{}", paused.output());
}

/// How many runs a worker's log shows ended, succeeded or superseded.
fn runs_ended(output: &str) -> usize {
    output
        .lines()
        .filter(|line| line.contains("task succeeded") || line.contains("task superseded"))
        .count()
}

on_redis_and_cluster!(a_second_delivery_of_a_task_that_a_live_run_holds_does_not_run_it);
async fn a_second_delivery_of_a_task_that_a_live_run_holds_does_not_run_it(redis: TestRedis) {
    let world = TaskWorld::new(&redis).await;
    let person = world.person(0).await;
    let call = add_one_year(person, 3000);
    let task = schedule_task(&world.tasks, call.clone(), None)
        .await
        .expect("scheduled");
    let env = redis.env(&world.database.url);
    let first = Process::start("worker", &env);
    world.reaches(task.id, State::Started, PATIENCE).await;

    // A copy of its message, as a Redis failover that lost a worker's reserve leaves.
    let copy = Message::first(call, task.id, None).encode().into_string();
    {
        use fred::prelude::*;
        let client = redis.client().await;
        let _: i64 = client
            .lpush(Keys::new(&redis.namespace).ready(), copy)
            .await
            .expect("pushed");
    }
    let second = Process::start("worker", &env);

    let done = world.finished(task.id, PATIENCE).await;
    assert_eq!(done.state, State::Succeeded, "{}", first.output());
    // The copy is handled too: put back while the run holds the task, then seen finished.
    let handled = eventually(
        PATIENCE,
        async || format!("{}{}", first.output(), second.output()),
        |output| {
            output.contains("task already finished") || output.matches("task succeeded").count() > 1
        },
    )
    .await;
    assert_eq!(world.age(person).await, 1, "one year, not two:\n{handled}");
    assert_eq!(
        world.finished(task.id, Duration::ZERO).await.attempts,
        1,
        "started once"
    );
    // Either worker may have taken the copy (the first one too: its own run holds it).
    assert!(
        handled.contains("task held by another live run"),
        "{handled}"
    );
}

/// The messages in the ready list, counted by task.
async fn ready_by_task(redis: &TestRedis) -> HashMap<Uuid, usize> {
    use fred::prelude::*;

    let client = redis.client().await;
    let ready: Vec<String> = client
        .lrange(Keys::new(&redis.namespace).ready(), 0, -1)
        .await
        .expect("the ready list");
    let mut counts = HashMap::new();
    for text in ready {
        let message: Message = serde_json::from_str(&text).expect("a message");
        *counts.entry(message.id).or_default() += 1;
    }
    counts
}

#[tokio::test]
async fn one_callers_bad_row_fails_only_that_caller() {
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let world = TaskWorld::new(&redis).await;
    if world.database.url.starts_with("sqlite:") {
        // SQLite stores what PostgreSQL refuses: no bad row to be had.
        skip("no PostgreSQL: the mixed-batch test is SKIPPED");
        return;
    }
    let person = world.person(0).await;
    let (mut innocent_failures, mut bad_failures, mut long_ids) = (0, 0, Vec::new());
    for _ in 0..20 {
        // 16 callers at once share the scheduler's statement and push. Caller 0 sends
        // arguments PostgreSQL refuses (a NUL character); caller 1 a 300-character
        // request id, longer than the column.
        let calls: Vec<_> = (0..16)
            .map(|caller| {
                let tasks = world.tasks.clone();
                tokio::spawn(async move {
                    let (call, request_id) = match caller {
                        0 => (
                            JobCall {
                                name: AddOneYear::NAME,
                                args: serde_json::json!({"person_id": person, "note": "a\u{0}b"}),
                                max_retries: 3,
                            },
                            None,
                        ),
                        1 => (add_one_year(person, 0), Some("x".repeat(300))),
                        _ => (add_one_year(person, 0), Some(format!("caller-{caller}"))),
                    };
                    (caller, schedule_task(&tasks, call, request_id).await)
                })
            })
            .collect();
        for call in calls {
            let (caller, scheduled) = call.await.expect("joined");
            match (caller, scheduled) {
                (0, Err(_)) => bad_failures += 1,
                (0, Ok(task)) => panic!("a row PostgreSQL refuses was written: {task:?}"),
                (_, Err(error)) => {
                    eprintln!("caller {caller}: {error}");
                    innocent_failures += 1;
                }
                (1, Ok(task)) => long_ids.push(task.request_id),
                (_, Ok(_)) => {}
            }
        }
    }
    assert_eq!(innocent_failures, 0, "innocent callers failed");
    assert_eq!(bad_failures, 20, "the bad row failed its own caller");
    assert!(
        long_ids.iter().all(|id| id
            .as_ref()
            .is_some_and(|id| id.len() == store::REQUEST_ID_MAX)),
        "long request ids are cut to the column: {long_ids:?}"
    );
    let written = world.count("SELECT COUNT(*) FROM tasks").await;
    assert_eq!(written, 20 * 15, "every innocent task was written");
    let queued: usize = ready_by_task(&redis).await.values().sum();
    assert_eq!(queued, 20 * 15, "and queued, once");
}

#[tokio::test]
async fn a_result_the_database_refuses_fails_only_its_own_task() {
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let world = TaskWorld::new(&redis).await;
    if world.database.url.starts_with("sqlite:") {
        skip("no PostgreSQL: the refused-result test is SKIPPED");
        return;
    }
    let tasks = world.tasks.clone().with_registry(test_tasks::registry());
    let mut calls = vec![flaky(0); 40];
    calls.insert(20, nul_result());
    let scheduled = schedule_many(&tasks, calls, None).await.expect("scheduled");
    let (stop, worker) = world.spawn_worker(tasks.clone());

    for (index, task) in scheduled.iter().enumerate() {
        let done = world.finished(task.id, PATIENCE).await;
        if index == 20 {
            assert_eq!(done.state, State::Failed, "{done:?}");
            assert_eq!(done.last_error.as_deref(), Some("bad_result"));
        } else {
            assert_eq!(done.state, State::Succeeded, "{done:?}");
            assert_eq!(done.attempts, 1, "not run again for another's result");
        }
    }
    let _ = stop.send(());
    worker.await.expect("worker stops");
}

#[tokio::test]
async fn a_body_that_blocks_its_thread_keeps_its_workers_lease() {
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let world = TaskWorld::new(&redis).await;
    let key = Uuid::new_v4().to_string();
    let tasks = world.tasks.clone().with_registry(test_tasks::registry());
    // Three leases long (2 s each), blocking the one thread of its worker's runtime.
    let task = schedule_task(&tasks, blocks(&key, 6000), None)
        .await
        .expect("scheduled");
    let mut settings = test_settings();
    settings.database.url = Some(world.database.url.parse().expect("a database URL"));
    redis.configure(&mut settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let blocked = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let health = crate::service::db::Health::default();
            let db = crate::service::db::connect(&settings.database, &health)
                .await
                .expect("connect");
            let queue = crate::service::tasks::queue(db, &health, &settings)
                .expect("a task queue")
                .with_registry(test_tasks::registry());
            let queue = queue.on_redis("the test's worker").expect("a Redis queue");
            worker::run(queue, async {
                let _ = stopped.await;
            })
            .await
            .expect("worker runs");
        });
    });
    world.reaches(task.id, State::Started, PATIENCE).await;
    // Another worker, which would take the task over (and fail it: it does not know
    // the test's tasks) if the first one's lease lapsed.
    let other = Process::start("worker", &redis.env(&world.database.url));

    let done = world.finished(task.id, PATIENCE).await;
    assert_eq!(done.state, State::Succeeded, "{}", other.output());
    assert_eq!(done.attempts, 1, "never taken over");
    let runs = BLOCKS_RUNS.lock().expect("runs").get(&key).copied();
    assert_eq!(runs, Some(1));
    let _ = stop.send(());
    tokio::task::spawn_blocking(move || blocked.join())
        .await
        .expect("joined")
        .expect("the worker's thread ends");
}

on_redis_and_cluster!(tasks_whose_push_was_lost_are_pushed_again_once);
async fn tasks_whose_push_was_lost_are_pushed_again_once(redis: TestRedis) {
    let world = TaskWorld::new(&redis).await;
    let long_ago = Utc::now() - chrono::Duration::minutes(10);
    let mut persons = Vec::new();
    let mut lost = Vec::new();
    for _ in 0..10 {
        let person = world.person(0).await;
        persons.push(person);
        lost.push(store::pending(
            &add_one_year(person, 0),
            Uuid::new_v4(),
            &Origin::default(),
            None,
            long_ago,
        ));
    }
    // A chain of two, lost too: its second task travels in the first one's message.
    let chained = world.person(0).await;
    let head = Uuid::new_v4();
    for position in 0..2 {
        let id = if position == 0 { head } else { Uuid::new_v4() };
        let call = add_one_year(chained, 0);
        lost.push(store::pending(
            &call,
            id,
            &Origin::default(),
            Some((head, position)),
            long_ago,
        ));
    }
    // Written, never pushed: what a crash between the two leaves.
    store::insert(&world.db, &lost).await.expect("written");
    // Pushed as usual, then old: its message is in Redis, so it is left alone.
    let queued_person = world.person(0).await;
    let queued = schedule_task(&world.tasks, add_one_year(queued_person, 0), None)
        .await
        .expect("scheduled");
    world
        .db
        .execute_unprepared(&format!(
            "UPDATE tasks SET updated_at = created_at - interval '1 hour' WHERE id = '{}'",
            queued.id
        ))
        .await
        .expect("aged");

    let mut env = redis.env(&world.database.url);
    env.push(("APP__TASKS__REQUEUE_AFTER_SECS".into(), "1".into()));
    // Two beats sweep (as every worker and beat does), often at the same moment.
    let beats = [Process::start("beat", &env), Process::start("beat", &env)];
    let heads = lost
        .iter()
        .filter(|row| row.chain_position.unwrap_or(0) == 0);
    let expected = heads.clone().count() + 1;
    let pushed = eventually(
        PATIENCE,
        async || ready_by_task(&redis).await,
        |ready| ready.len() == expected,
    )
    .await;
    assert_eq!(pushed.len(), expected, "{pushed:?}\n{}", beats[0].output());
    // A few more sweeps: nothing is pushed twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let pushed = ready_by_task(&redis).await;
    for row in heads {
        assert_eq!(
            pushed.get(&row.id),
            Some(&1),
            "pushed again once: {pushed:?}"
        );
    }
    assert_eq!(pushed.get(&queued.id), Some(&1), "its own push only");

    let worker = Process::start("worker", &env);
    for row in lost.iter().chain([&queued]) {
        let done = world.finished(row.id, PATIENCE).await;
        assert_eq!(done.state, State::Succeeded, "{}", worker.output());
    }
    for person in persons.iter().chain([&queued_person]) {
        assert_eq!(world.age(*person).await, 1, "person {person}: once");
    }
    assert_eq!(
        world.age(chained).await,
        2,
        "both tasks of the chain, once each"
    );
}

#[tokio::test]
async fn a_beat_that_stalls_past_its_claim_does_not_push_the_tick() {
    use fred::prelude::*;

    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let world = TaskWorld::new(&redis).await;
    if world.database.url.starts_with("sqlite:") {
        skip("no PostgreSQL: the stalled-beat test is SKIPPED");
        return;
    }
    let person = world.person(0).await;
    let mut env = redis.env(&world.database.url);
    // Hourly, with an hour of catch-up: both beats fire the same tick, the last one.
    env.push((
        "APP_CONFIG_YAML".into(),
        format!(
            "beat:\n  catch_up_secs: 3600\n  schedules:\n    hourly:\n      \
             cron: \"0 0 * * * *\"\n      task: persons.add_one_year\n      \
             args:\n        person_id: {person}\n"
        ),
    ));
    env.push(("APP__TASKS__REQUEUE_AFTER_SECS".into(), "3600".into()));
    let client = redis.client().await;
    let keys = Keys::new(&redis.namespace);
    let claims = async || -> HashMap<String, String> {
        let pattern = format!("{}beat:fired:hourly:*", keys.prefix());
        let script = "local found = {} for _, key in ipairs(redis.call('KEYS', ARGV[1])) do \
                      found[#found + 1] = key found[#found + 1] = redis.call('GET', key) end \
                      return found";
        let found: Vec<String> = client
            .eval(script, keys.ready(), pattern)
            .await
            .expect("claims");
        found
            .chunks(2)
            .map(|pair| (pair[0].clone(), pair[1].clone()))
            .collect()
    };

    // The tasks table held: a beat that claimed a tick stalls before it pushes.
    let holder = world.db.begin().await.expect("a transaction");
    holder
        .execute_unprepared("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
        .await
        .expect("locked");
    let first = Process::start("beat", &env);
    let claimed = eventually(PATIENCE, claims, |claims| claims.len() == 1).await;
    let (claim, holder_of) = claimed.into_iter().next().expect("a claim");
    assert!(
        holder_of.contains(&format!("-{}-", first.pid())),
        "{holder_of}"
    );
    // Its claim (2 s) lapses; the other beat leads, claims the tick and stalls too.
    let second = Process::start("beat", &env);
    let mine = format!("-{}-", second.pid());
    let taken = eventually(PATIENCE, claims, |claims| {
        claims
            .get(&claim)
            .is_some_and(|value| value.contains(&mine))
    })
    .await;
    assert!(
        taken[&claim].contains(&mine),
        "{taken:?}\n{}",
        second.output()
    );
    // Both now find the tick's row and go on to push.
    let id = Uuid::new_v5(&Uuid::NAMESPACE_OID, claim.as_bytes());
    let row = store::pending(
        &add_one_year(person, 0),
        id,
        &Origin::default(),
        None,
        Utc::now(),
    );
    store::insert(&holder, std::slice::from_ref(&row))
        .await
        .expect("written");
    holder.commit().await.expect("released");

    second.wrote("fired", PATIENCE).await;
    // The first beat went on too: it pushed (the fault this test is for), or found the
    // claim another's.
    let first_went_on = eventually(
        PATIENCE,
        async || first.output(),
        |output| output.contains("fired") || output.contains("claim lapsed"),
    )
    .await;
    let pushed = ready_by_task(&redis).await;
    assert_eq!(pushed.get(&id), Some(&1), "pushed once: {pushed:?}");
    assert!(first_went_on.contains("claim lapsed"), "{first_went_on}");
}

on_redis_and_cluster!(a_run_its_live_worker_gave_up_may_be_taken_over_at_once);
async fn a_run_its_live_worker_gave_up_may_be_taken_over_at_once(redis: TestRedis) {
    use crate::service::queue::InstanceId;

    let world = TaskWorld::new(&redis).await;
    let broker = world.tasks.broker().expect("a Redis queue").clone();
    broker.connected().await;
    let worker = InstanceId::generate();
    broker
        .heartbeat(&worker, Duration::from_secs(60))
        .await
        .expect("leased");
    let task = schedule_task(&world.tasks, add_one_year(world.person(0).await, 0), None)
        .await
        .expect("scheduled");
    let blocking = broker.blocking_client();
    let held = broker
        .reserve(&blocking, &worker, 1, Duration::from_secs(1))
        .await
        .expect("reserved");
    assert_eq!(held.len(), 1);
    let run = (worker.as_str().to_owned(), task.id, 1);

    let before = broker
        .alive(std::slice::from_ref(&run))
        .await
        .expect("asked");
    // Its state could not be written (the database was away): the run is given up.
    broker
        .abandon(&worker, &held[0], task.id, 1, Duration::ZERO)
        .await
        .expect("given up");
    let after = broker
        .alive(std::slice::from_ref(&run))
        .await
        .expect("asked");
    let next_run = (worker.as_str().to_owned(), task.id, 2);
    let next = broker.alive(&[next_run]).await.expect("asked");

    assert_eq!(before, [true], "a live worker's run lives");
    assert_eq!(after, [false], "given up, though its worker lives");
    assert_eq!(next, [true], "the next run of the task is not given up");
    assert_eq!(
        broker.depth().await.expect("depth"),
        (0, 1),
        "put back, delayed"
    );
}
