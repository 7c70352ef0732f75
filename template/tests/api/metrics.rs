//! `/metrics`: requests by route template and status, tasks by outcome, the queue's depth;
//! `worker` serves its own on `metrics.listen`.
use std::time::Duration;

use uuid::Uuid;

use crate::service::controllers::tasks::{schedule_many, schedule_task};
use crate::support::app::{Api, sample, scrape, spawn_app_with};
use crate::support::database::TestDatabase;
use crate::support::eventually;
use crate::support::fixtures;
use crate::support::process::{Process, serve};
use crate::support::raw::{host_port, trickle_a_head};
use crate::support::redis::{TestRedis, on_redis_and_cluster};
use crate::support::tasks::TaskWorld;

/// `name{labels}`.
fn series(name: &str, labels: &str) -> String {
    [name, "{", labels, "}"].concat()
}

// The counters are per process: these tests run a `serve` process of their own, so the
// counts are exact.

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let database = TestDatabase::create().await;
    let (_service, api) = serve(&database, &[]).await;
    let unknown = format!("/no/such/route-{}", Uuid::new_v4());

    for n in 0..3 {
        let path = format!("/v1/persons/{}", 900_000_000 + n);
        assert_eq!(api.get(&path).await.status(), 404);
    }
    for _ in 0..2 {
        let response = api.get(&unknown).await;
        assert_eq!(response.status(), 404);
    }

    let text = scrape(&api).await;
    let person = r#"method="GET",route="/v1/persons/{id}""#;
    let count = |name: &str, labels: &str| sample(&text, &series(name, labels));
    let not_found = format!("{person},status=\"404\"");
    assert_eq!(count("http_requests_total", &not_found), 3.0, "{text}");
    assert_eq!(count("http_request_duration_seconds_count", person), 3.0);
    let all = format!("{person},le=\"+Inf\"");
    assert_eq!(count("http_request_duration_seconds_bucket", &all), 3.0);
    let unmatched = r#"method="GET",route="unmatched",status="404""#;
    assert_eq!(count("http_requests_total", unmatched), 2.0, "{text}");
    // Raw paths are not labels (digits alone could be part of a float sum).
    assert!(!text.contains("/v1/persons/900000000"), "{text}");
    assert!(!text.contains(&unknown), "{text}");
    assert!(!text.contains(&unknown), "raw paths are not labels");
    assert!(text.contains("# TYPE http_request_duration_seconds histogram"));
}

#[tokio::test]
async fn tasks_are_counted_by_outcome() {
    let database = TestDatabase::create().await;
    // Tasks run in-process in the test configuration.
    let (_service, api) = serve(&database, &[]).await;
    let person = fixtures::person(&database.connect().await, "Ada", 36).await;

    for _ in 0..2 {
        let path = format!("/v1/persons/{}/birthday", person.id);
        let response = api.post(&path).await;
        assert_eq!(response.status(), 202);
    }

    let text = scrape(&api).await;
    let task = r#"task="persons.add_one_year""#;
    let count = |name: &str| sample(&text, &series(name, task));
    assert_eq!(count("tasks_scheduled_total"), 2.0, "{text}");
    assert_eq!(count("tasks_succeeded_total"), 2.0, "{text}");
    assert_eq!(count("tasks_failed_total"), 0.0, "{text}");
    assert!(text.contains("# TYPE tasks_retried_total counter"));
}

on_redis_and_cluster!(the_queue_depth_is_shown_when_tasks_go_through_redis);
async fn the_queue_depth_is_shown_when_tasks_go_through_redis(redis: TestRedis) {
    let app = spawn_app_with(|settings| redis.configure(settings)).await;
    let world = TaskWorld::new(&redis).await;
    let calls = (0..7).map(|_| fixtures::ping()).collect();

    schedule_many(&world.tasks, calls, None)
        .await
        .expect("scheduled");

    let text = scrape(&app).await;
    assert_eq!(
        sample(&text, r#"tasks_queue_depth{state="ready"}"#),
        7.0,
        "{text}"
    );
    assert_eq!(
        sample(&text, r#"tasks_queue_depth{state="delayed"}"#),
        0.0,
        "{text}"
    );
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = spawn_app_with(|settings| settings.metrics.enabled = false).await;

    assert_eq!(app.get("/metrics").await.status(), 404);
}

#[tokio::test]
async fn a_worker_serves_its_own_metrics_on_metrics_listen() {
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let world = TaskWorld::new(&redis).await;
    let mut env = redis.env(&world.database.url);
    env.push(("APP__METRICS__LISTEN".into(), "127.0.0.1:0".into()));
    env.push(("APP__SERVER__HEADER_READ_TIMEOUT_SECS".into(), "1".into()));
    let worker = Process::start("worker", &env);
    let api = Api::new(worker.address("serving /metrics").await);

    let task = schedule_task(&world.tasks, fixtures::ping(), None)
        .await
        .expect("scheduled");
    world
        .reaches(
            task.id,
            crate::service::models::task::State::Succeeded,
            Duration::from_secs(20),
        )
        .await;

    let series = r#"tasks_succeeded_total{task="tasks.ping"}"#;
    // The worker counts the success just after writing it.
    let text = eventually(
        Duration::from_secs(10),
        async || api.get("/metrics").await.text().await.expect("text"),
        |text| sample(text, series) == 1.0,
    )
    .await;
    assert_eq!(sample(&text, series), 1.0, "{text}");
    assert!(
        text.contains("tasks_queue_depth{state=\"ready\"} 0"),
        "{text}"
    );
    let ping = api.get("/mon/ping").await;
    assert_eq!(ping.status(), 200);

    // The API's server and limits: a client trickling its head is cut off.
    let kept = trickle_a_head(&host_port(&api.address), Duration::from_secs(20)).await;
    let kept = kept.expect("the slow client was cut off");
    assert!(
        kept < Duration::from_secs(15),
        "cut off at 1 s, not {kept:?}"
    );
    assert_eq!(api.get("/mon/ping").await.status(), 200);
}
