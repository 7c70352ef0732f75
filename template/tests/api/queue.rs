//! The task queue on a real Redis, and on a Redis Cluster: worker processes, crashes,
//! retries, chains, volume.
use std::time::Duration;

use serde_json::Value;

use crate::service::controllers::tasks::{schedule_chain, schedule_many, schedule_task};
use crate::service::models::task::State;
use crate::service::queue::JobCall;
use crate::support::app::spawn_app_with;
use crate::support::eventually;
use crate::support::fixtures::add_one_year;
use crate::support::process::Process;
use crate::support::redis::{OwnRedis, TestRedis, on_redis_and_cluster};
use crate::support::tasks::TaskWorld;
use crate::support::test_tasks::{self, flaky, panics, unrecoverable};

const PATIENCE: Duration = Duration::from_secs(20);

on_redis_and_cluster!(a_task_scheduled_over_the_api_is_run_by_a_worker_process);
async fn a_task_scheduled_over_the_api_is_run_by_a_worker_process(redis: TestRedis) {
    let app = spawn_app_with(|settings| redis.configure(settings)).await;
    let person = app.create_person("Ada", 36).await;
    let id = person["id"].as_i64().expect("id");

    let response = app
        .post(&format!("/v1/persons/{id}/birthday"))
        .header("x-request-id", "from-the-api")
        .await;
    assert_eq!(response.status(), 202);
    let task: Value = response.json().await.expect("JSON");
    assert_eq!(task["state"], "pending", "queued, not run in the request");
    let location = format!("/v1/tasks/{}", task["id"].as_str().expect("id"));

    let worker = Process::start("worker", &redis.env(&app.database_url));
    let state: Value = eventually(
        PATIENCE,
        async || app.get(&location).await.json().await.expect("JSON"),
        |state: &Value| state["state"] == "succeeded",
    )
    .await;
    assert_eq!(state["state"], "succeeded", "{state}\n{}", worker.output());
    let person: Value = app
        .get(&format!("/v1/persons/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(person["age"], 37, "exactly one year more");
    worker.wrote("task succeeded", PATIENCE).await;
    let line = worker
        .output()
        .lines()
        .find(|line| line.contains("task succeeded"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        line.contains("from-the-api"),
        "the request id is on the worker's line: {line}"
    );
}

on_redis_and_cluster!(a_task_of_a_worker_killed_mid_run_completes_once_on_another_worker);
async fn a_task_of_a_worker_killed_mid_run_completes_once_on_another_worker(redis: TestRedis) {
    let world = TaskWorld::new(&redis).await;
    let person = world.person(40).await;
    let env = redis.env(&world.database.url);

    let task = schedule_task(&world.tasks, add_one_year(person, 1500), None)
        .await
        .expect("scheduled");
    let mut first = Process::start("worker", &env);
    world.reaches(task.id, State::Started, PATIENCE).await;
    first.signal("KILL");
    first.exited(PATIENCE).await;

    let second = Process::start("worker", &env);
    let done = world.finished(task.id, PATIENCE).await;

    assert_eq!(done.state, State::Succeeded, "{}", second.output());
    assert_eq!(
        world.age(person).await,
        41,
        "the year was added exactly once"
    );
    assert!(
        second
            .output()
            .contains("tasks of a dead worker went back to the queue"),
        "{}",
        second.output()
    );
}

on_redis_and_cluster!(sigterm_lets_the_running_task_finish_before_the_worker_exits);
async fn sigterm_lets_the_running_task_finish_before_the_worker_exits(redis: TestRedis) {
    let world = TaskWorld::new(&redis).await;
    let person = world.person(40).await;

    let task = schedule_task(&world.tasks, add_one_year(person, 1000), None)
        .await
        .expect("scheduled");
    let mut worker = Process::start("worker", &redis.env(&world.database.url));
    world.reaches(task.id, State::Started, PATIENCE).await;
    worker.signal("TERM");
    let status = worker.exited(PATIENCE).await;

    assert!(status.success(), "{status}: {}", worker.output());
    let done = world.finished(task.id, Duration::ZERO).await;
    assert_eq!(done.state, State::Succeeded, "finished before the exit");
    assert_eq!(world.age(person).await, 41);
}

on_redis_and_cluster!(failures_retry_with_backoff_then_succeed_fail_or_stop_at_once);
async fn failures_retry_with_backoff_then_succeed_fail_or_stop_at_once(redis: TestRedis) {
    let world = TaskWorld::new(&redis).await;
    let tasks = world.tasks.clone().with_registry(test_tasks::registry());
    let (stop, worker) = world.spawn_worker(tasks.clone());

    let recovered = schedule_task(&tasks, flaky(2), None)
        .await
        .expect("scheduled");
    let exhausted = schedule_task(&tasks, flaky(10), None)
        .await
        .expect("scheduled");
    let hopeless = schedule_task(&tasks, unrecoverable(), None)
        .await
        .expect("scheduled");
    let buggy = schedule_task(&tasks, panics(), None)
        .await
        .expect("scheduled");
    let after_panic = schedule_task(&tasks, flaky(0), None)
        .await
        .expect("scheduled");

    let recovered = world.finished(recovered.id, PATIENCE).await;
    assert_eq!(recovered.state, State::Succeeded);
    assert_eq!(recovered.attempts, 3);
    let waited = recovered.finished_at.expect("finished") - recovered.created_at;
    // Two retries: at least half of 100 ms, then half of 200 ms.
    assert!(
        waited >= chrono::Duration::milliseconds(150),
        "backed off: {waited}"
    );

    let exhausted = world.finished(exhausted.id, PATIENCE).await;
    assert_eq!(exhausted.state, State::Failed);
    assert_eq!(exhausted.attempts, 4, "the first run and 3 retries");
    assert_eq!(exhausted.last_error.as_deref(), Some("failed"), "a code");

    let hopeless = world.finished(hopeless.id, PATIENCE).await;
    assert_eq!((hopeless.state, hopeless.attempts), (State::Failed, 1));

    let buggy = world.finished(buggy.id, PATIENCE).await;
    assert_eq!(buggy.state, State::Failed);
    assert_eq!(buggy.last_error.as_deref(), Some("panicked"));
    let after_panic = world.finished(after_panic.id, PATIENCE).await;
    assert_eq!(after_panic.state, State::Succeeded, "the worker survived");

    let _ = stop.send(());
    worker.await.expect("worker stops");
}

on_redis_and_cluster!(chains_run_in_order_and_stop_at_a_failure);
async fn chains_run_in_order_and_stop_at_a_failure(redis: TestRedis) {
    let world = TaskWorld::new(&redis).await;
    let tasks = world.tasks.clone().with_registry(test_tasks::registry());
    let (stop, worker) = world.spawn_worker(tasks.clone());

    let done = schedule_chain(&tasks, vec![flaky(0), flaky(1), flaky(0)], None)
        .await
        .expect("scheduled");
    let stopped = schedule_chain(&tasks, vec![flaky(0), unrecoverable(), flaky(0)], None)
        .await
        .expect("scheduled");

    let mut finished = Vec::new();
    for task in &done {
        finished.push(world.finished(task.id, PATIENCE).await);
    }
    assert!(finished.iter().all(|t| t.state == State::Succeeded));
    for pair in finished.windows(2) {
        assert!(pair[1].started_at >= pair[0].finished_at, "in order");
    }
    let mut states = Vec::new();
    for task in &stopped {
        states.push(world.finished(task.id, PATIENCE).await.state);
    }
    assert_eq!(states, [State::Succeeded, State::Failed, State::Cancelled]);

    let _ = stop.send(());
    worker.await.expect("worker stops");
}

// On Redis only: twice at once would double the load of the slowest test. The failover
// test (`cluster.rs`) runs hundreds of tasks on the cluster.
#[tokio::test]
async fn five_thousand_tasks_drain_with_none_lost_or_run_twice() {
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let world = TaskWorld::new(&redis).await;
    let persons: Vec<i64> = {
        let mut ids = Vec::new();
        for _ in 0..50 {
            ids.push(world.person(0).await);
        }
        ids
    };
    let calls: Vec<JobCall> = (0..100)
        .flat_map(|_| persons.iter().map(|id| add_one_year(*id, 0)))
        .collect();
    let scheduled = schedule_many(&world.tasks, calls, None)
        .await
        .expect("scheduled");
    assert_eq!(scheduled.len(), 5000);

    let mut env = redis.env(&world.database.url);
    // No worker dies here: a long lease keeps a loaded machine from presuming one dead.
    env.push(("APP__TASKS__WORKER_LEASE_SECS".into(), "30".into()));
    let workers = [
        Process::start("worker", &env),
        Process::start("worker", &env),
    ];
    let done = eventually(
        Duration::from_secs(120),
        async || {
            world
                .count("SELECT COUNT(*) FROM tasks WHERE state = 'succeeded'")
                .await
        },
        |done| *done == 5000,
    )
    .await;
    assert!(
        done == 5000,
        "{done} of 5000 done after 120 s\n{}",
        workers[0].output()
    );

    assert_eq!(world.count("SELECT COUNT(*) FROM tasks").await, 5000);
    // Run once each: a second run would add a second year. (A transient failure, such as
    // a pool timeout on a loaded machine, may retry a task that did nothing: that is
    // allowed, and does not show in the ages.)
    for id in persons {
        assert_eq!(
            world.age(id).await,
            100,
            "person {id}: 100 birthdays, no more"
        );
    }
}

#[tokio::test]
async fn a_worker_reconnects_when_redis_comes_back() {
    let Some(mut own) = OwnRedis::start() else {
        return;
    };
    let redis = TestRedis::at(own.url());
    let world = TaskWorld::new(&redis).await;
    let person = world.person(40).await;
    let worker = Process::start("worker", &redis.env(&world.database.url));
    worker.wrote("worker started", PATIENCE).await;

    own.stop();
    let during = schedule_task(&world.tasks, add_one_year(person, 0), None).await;
    assert!(during.is_err(), "Redis is really down");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(own.restart(), "redis-server restarts");
    // Scheduled after the outage, on the same handle: both sides must have reconnected.
    let scheduled = eventually(
        PATIENCE,
        async || schedule_task(&world.tasks, add_one_year(person, 0), None).await,
        Result::is_ok,
    )
    .await;
    let task = scheduled.expect("scheduling works again once Redis is back");
    let done = world.finished(task.id, PATIENCE).await;

    assert_eq!(done.state, State::Succeeded, "{}", worker.output());
    assert_eq!(world.age(person).await, 41);
}

#[tokio::test]
async fn an_unreadable_message_is_logged_by_id_name_and_size_never_its_content() {
    use fred::prelude::*;

    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let world = TaskWorld::new(&redis).await;
    let id = uuid::Uuid::new_v4();
    // Its attempt is not a number: it cannot be decoded, though its id and name can.
    let message = serde_json::json!({
        "id": id,
        "name": "persons.add_one_year",
        "args": {"card": "s3cret-argument"},
        "attempt": "first",
        "max_retries": 3,
    })
    .to_string();
    let client = redis.client().await;
    let _: i64 = client
        .lpush(
            crate::service::queue::Keys::new(&redis.namespace).ready(),
            message.as_str(),
        )
        .await
        .expect("pushed");

    let worker = Process::start("worker", &redis.env(&world.database.url));
    worker.wrote("unreadable message dropped", PATIENCE).await;
    let output = worker.output();
    let line = output
        .lines()
        .find(|line| line.contains("unreadable message dropped"))
        .unwrap_or_default();
    assert!(line.contains(&id.to_string()), "{line}");
    assert!(line.contains("persons.add_one_year"), "{line}");
    assert!(line.contains(&format!("bytes={}", message.len())), "{line}");
    assert!(!output.contains("s3cret"), "no content logged:\n{output}");
}
