//! Tasks through the API, in eager mode (the default of the tests), and with Redis away.
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::service::controllers::tasks::{schedule_chain, schedule_task};
use crate::service::models::task::State;
use crate::service::queue::Queue;
use crate::support::app::{error_of, spawn_app, spawn_app_with};
use crate::support::tasks::TaskWorld;
use crate::support::test_tasks::{self, bad_sql, flaky, panics, says_superseded, unrecoverable};

#[tokio::test]
async fn a_birthday_schedules_a_task_that_adds_one_year() {
    let app = spawn_app().await;
    let person = app.create_person("Ada", 36).await;
    let id = person["id"].as_i64().expect("id");

    let response = app
        .post(&format!("/v1/persons/{id}/birthday"))
        .header("x-request-id", "birthday-1")
        .await;

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

    let response = app.post("/v1/persons/999/birthday").await;

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
        settings.redis.url = Some("redis://127.0.0.1:1".parse().expect("a Redis URL"));
        settings.redis.command_timeout_ms = 300;
        settings.tasks.eager = false;
    })
    .await;

    let person = app.create_person("Ada", 36).await;
    let id = person["id"].as_i64().expect("id");
    let response = app.post(&format!("/v1/persons/{id}/birthday")).await;

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
    assert_eq!(tasks[0].last_error.as_deref(), Some("not_queued"));
    let shown: Value = app
        .get(&format!("/v1/tasks/{}", tasks[0].id))
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(shown["last_error"]["code"], "not_queued", "{shown}");
    let shown = shown.to_string();
    for cause in ["127.0.0.1", "refused", "Redis", "IO"] {
        assert!(!shown.contains(cause), "no queue error text: {shown}");
    }
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
    assert_eq!(exhausted.last_error.as_deref(), Some("failed"));
    assert_eq!(hopeless.state, State::Failed);
    assert_eq!(hopeless.attempts, 1);
    assert_eq!(buggy.state, State::Failed);
    assert_eq!(buggy.last_error.as_deref(), Some("panicked"));
}

#[tokio::test]
async fn a_body_that_says_superseded_while_its_run_holds_the_task_is_retried_not_left_started() {
    let (_world, tasks) = eager().await;

    let task = schedule_task(&tasks, says_superseded(), None)
        .await
        .expect("scheduled");

    assert_eq!(task.state, State::Succeeded, "{task:?}");
    assert_eq!(
        task.attempts, 2,
        "its run held the task: a failed attempt, retried"
    );
    assert_eq!(task.result, Some(serde_json::json!(2)));
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

#[tokio::test]
async fn last_error_shows_a_code_and_a_generic_message_never_sql_or_panic_text() {
    let app = spawn_app().await;
    let db = sea_orm::Database::connect(app.database_url.as_str())
        .await
        .expect("connect");
    let settings = crate::support::app::test_settings();
    let tasks = crate::service::tasks::queue(db, &Default::default(), &settings)
        .expect("a task queue")
        .with_registry(test_tasks::registry());
    assert!(tasks.is_eager());

    let sql = schedule_task(&tasks, bad_sql(), None)
        .await
        .expect("scheduled");
    let panic = schedule_task(&tasks, panics(), None)
        .await
        .expect("scheduled");

    for (task, code) in [(sql, "failed"), (panic, "panicked")] {
        assert_eq!(task.state, State::Failed);
        let shown: Value = app
            .get(&format!("/v1/tasks/{}", task.id))
            .await
            .json()
            .await
            .expect("JSON");
        assert_eq!(shown["last_error"]["code"], code, "{shown}");
        let message = shown["last_error"]["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{shown}");
        let text = shown.to_string();
        for cause in [
            "no_such_table",
            "secret_column",
            "SELECT",
            "relation",
            "a bug in a task",
            "panicked at",
        ] {
            assert!(!text.contains(cause), "{cause:?} shown: {text}");
        }
    }
}
