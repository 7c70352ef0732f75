//! Tasks through the API, in eager mode (the default of the tests), and with Redis away.
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::background::TaskWorld;
use crate::helpers::{error_of, spawn_app, spawn_app_with};
use crate::service::controllers::tasks::{schedule_chain, schedule_task};
use crate::service::models::task::State;
use crate::service::queue::Queue;
use crate::test_tasks::{self, flaky, panics, unrecoverable};

#[tokio::test]
async fn a_birthday_schedules_a_task_that_adds_one_year() {
    let app = spawn_app().await;
    let person = app.create_person("Ada", 36).await;
    let id = person["id"].as_i64().expect("id");

    let response = app
        .client
        .post(app.url(&format!("/v1/persons/{id}/birthday")))
        .header("x-request-id", "birthday-1")
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 202);
    let location = response.headers()["location"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let task: Value = response.json().await.expect("JSON");
    assert_eq!(
        location,
        format!("/v1/tasks/{}", task["id"].as_str().expect("id"))
    );
    assert_eq!(task["name"], "persons.add_one_year");
    assert_eq!(task["state"], "succeeded", "eager mode ran it: {task}");
    assert_eq!(task["result"]["age"], 37);
    assert_eq!(task["request_id"], "birthday-1");

    let followed: Value = app.get(&location).await.json().await.expect("JSON");
    assert_eq!(followed["state"], "succeeded");
    assert_eq!(followed["attempts"], 1);
    let person: Value = app
        .get(&format!("/v1/persons/{id}"))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(person["age"], 37);
}

#[tokio::test]
async fn a_birthday_of_a_missing_person_is_a_404_and_schedules_nothing() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/v1/persons/999/birthday"))
        .send()
        .await
        .expect("sent");

    let (status, code, _) = error_of(response).await;
    assert_eq!((status, code.as_str()), (404, "not_found"));
}

#[tokio::test]
async fn unknown_tasks_are_404_and_malformed_ids_400() {
    let app = spawn_app().await;

    let (status, code, _) = error_of(
        app.get("/v1/tasks/3f1c0d5e-4a8b-4c36-9a55-0e6f4b2d7a10")
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (404, "not_found"));

    let (status, code, _) = error_of(app.get("/v1/tasks/not-a-uuid").await).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
}

#[tokio::test]
async fn with_redis_away_scheduling_is_a_503_and_the_rest_keeps_serving() {
    let app = spawn_app_with(|settings| {
        // Nothing listens on port 1.
        settings.redis.url = Some("redis://127.0.0.1:1".into());
        settings.redis.command_timeout_ms = 300;
        settings.tasks.eager = false;
    })
    .await;

    let person = app.create_person("Ada", 36).await;
    let id = person["id"].as_i64().expect("id");
    let response = app
        .client
        .post(app.url(&format!("/v1/persons/{id}/birthday")))
        .send()
        .await
        .expect("sent");

    let (status, code, body) = error_of(response).await;
    assert_eq!((status, code.as_str()), (503, "unavailable"), "{body}");
    assert_eq!(app.get(&format!("/v1/persons/{id}")).await.status(), 200);
    let db = sea_orm::Database::connect(app.database_url.as_str())
        .await
        .expect("connect");
    let tasks = crate::service::models::task::Entity::find()
        .all(&db)
        .await
        .expect("tasks");
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].state, State::Failed, "not left pending");
    assert!(
        tasks[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("unavailable")),
        "{:?}",
        tasks[0].last_error
    );
}

/// A task handle in eager mode with the test tasks registered, on a fresh database.
async fn eager() -> (TaskWorld, Queue) {
    let world = TaskWorld::with(|_| {}).await;
    let tasks = world.tasks.clone().with_registry(test_tasks::registry());
    assert!(tasks.is_eager());
    (world, tasks)
}

#[tokio::test]
async fn eager_mode_retries_at_once_and_records_every_attempt() {
    let (_world, tasks) = eager().await;

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

    assert_eq!(recovered.state, State::Succeeded);
    assert_eq!(recovered.attempts, 3);
    assert_eq!(recovered.result, Some(serde_json::json!(3)));
    assert_eq!(exhausted.state, State::Failed);
    assert_eq!(exhausted.attempts, 4, "the first run and 3 retries");
    assert_eq!(exhausted.last_error.as_deref(), Some("attempt 4 failed"));
    assert_eq!(hopeless.state, State::Failed);
    assert_eq!(hopeless.attempts, 1);
    assert_eq!(buggy.state, State::Failed);
    assert!(
        buggy
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("a bug in a task")),
        "{:?}",
        buggy.last_error
    );
}

#[tokio::test]
async fn eager_chains_run_in_order_and_stop_at_a_failure() {
    let (_world, tasks) = eager().await;

    let done = schedule_chain(&tasks, vec![flaky(0), flaky(1), flaky(0)], None)
        .await
        .expect("scheduled");
    let stopped = schedule_chain(&tasks, vec![flaky(0), unrecoverable(), flaky(0)], None)
        .await
        .expect("scheduled");

    let states: Vec<State> = done.iter().map(|t| t.state).collect();
    assert_eq!(states, [State::Succeeded; 3]);
    assert!(done.iter().all(|t| t.chain_id == Some(done[0].id)));
    for pair in done.windows(2) {
        assert!(pair[1].started_at >= pair[0].finished_at, "in order");
    }
    let states: Vec<State> = stopped.iter().map(|t| t.state).collect();
    assert_eq!(states, [State::Succeeded, State::Failed, State::Cancelled]);
    assert_eq!(stopped[2].attempts, 0, "never ran");
}
