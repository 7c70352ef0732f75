//! `/metrics`: requests by route template and status, tasks by outcome, the queue's depth;
//! `worker` serves its own on `metrics.listen`.
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::background::{Process, TaskWorld, TestRedis};
use crate::helpers::{TestApp, spawn_app, spawn_app_with};
use crate::service::controllers::tasks::{schedule_many, schedule_task};
use crate::service::tasks::TaskCall;
use crate::service::tasks::maintenance::Ping;

/// The value of the sample that starts with `series` (name and labels), or 0 when absent.
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0.0)
}

async fn scrape(app: &TestApp) -> String {
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain")),
    );
    response.text().await.expect("text")
}

const PERSON_404: &str =
    r#"http_requests_total{method="GET",route="/v1/persons/{id}",status="404"}"#;
const PERSON_LATENCY: &str =
    r#"http_request_duration_seconds_count{method="GET",route="/v1/persons/{id}"}"#;

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status() {
    let app = spawn_app().await;
    let before = scrape(&app).await;
    let missing = format!("/v1/persons/{}", 900_000_000 + rand_suffix());
    let unknown = format!("/no/such/route-{}", Uuid::new_v4());

    assert_eq!(app.get(&missing).await.status(), 404);
    assert_eq!(app.get(&unknown).await.status(), 404);

    let after = scrape(&app).await;
    // The counters are the process's: other tests add to them, never take away.
    assert!(
        sample(&after, PERSON_404) >= sample(&before, PERSON_404) + 1.0,
        "{after}"
    );
    assert!(sample(&after, PERSON_LATENCY) >= sample(&before, PERSON_LATENCY) + 1.0);
    let unmatched = r#"http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert!(
        sample(&after, unmatched) >= sample(&before, unmatched) + 1.0,
        "{after}"
    );
    assert!(!after.contains(&missing), "raw paths are not labels");
    assert!(!after.contains(&unknown), "raw paths are not labels");
    assert!(after.contains("# TYPE http_request_duration_seconds histogram"));
}

#[tokio::test]
async fn tasks_are_counted_by_outcome() {
    let app = spawn_app().await;
    let person = app.create_person("Ada", 36).await;
    let scheduled = r#"tasks_scheduled_total{task="persons.add_one_year"}"#;
    let succeeded = r#"tasks_succeeded_total{task="persons.add_one_year"}"#;
    let before = scrape(&app).await;

    let response = app
        .client
        .post(app.url(&format!("/v1/persons/{}/birthday", person["id"])))
        .send()
        .await
        .expect("sent");

    assert_eq!(response.status(), 202);
    let after = scrape(&app).await;
    assert!(
        sample(&after, scheduled) >= sample(&before, scheduled) + 1.0,
        "{after}"
    );
    assert!(
        sample(&after, succeeded) >= sample(&before, succeeded) + 1.0,
        "{after}"
    );
    assert!(after.contains("# TYPE tasks_failed_total counter"));
    assert!(after.contains("# TYPE tasks_retried_total counter"));
}

#[tokio::test]
async fn the_queue_depth_is_shown_when_tasks_go_through_redis() {
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let app = spawn_app_with(|settings| redis.configure(settings)).await;
    let world = TaskWorld::new(&redis).await;
    let calls = (0..7)
        .map(|_| TaskCall::new::<Ping>(()).expect("call"))
        .collect();

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
    let worker = Process::start("worker", &env);
    let address = worker.address("serving /metrics").await;

    let task = schedule_task(&world.tasks, TaskCall::new::<Ping>(()).expect("call"), None)
        .await
        .expect("scheduled");
    world
        .reaches(
            task.id,
            crate::service::models::task::State::Succeeded,
            Duration::from_secs(20),
        )
        .await;

    let client = reqwest::Client::new();
    let series = r#"tasks_succeeded_total{task="tasks.ping"}"#;
    let deadline = Instant::now() + Duration::from_secs(10);
    let text = loop {
        let text = client
            .get(format!("{address}/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text");
        // The worker counts the success just after writing it.
        if sample(&text, series) == 1.0 || Instant::now() > deadline {
            break text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(sample(&text, series), 1.0, "{text}");
    assert!(
        text.contains("tasks_queue_depth{state=\"ready\"} 0"),
        "{text}"
    );
    let ping = client
        .get(format!("{address}/mon/ping"))
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), 200);
}

fn rand_suffix() -> u64 {
    u64::from(Uuid::new_v4().as_fields().0 % 1_000_000)
}
