//! Error reports reach Sentry (a fake endpoint here) from a `serve` process answering a
//! 500 and from a `worker` process whose task fails, tagged and without secrets.
use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

use crate::background::{Process, TaskWorld, TestRedis, create_person, serve};
use crate::helpers::TestDatabase;
use crate::listeners::FakeSentry;
use crate::service::controllers::tasks::schedule_task;
use crate::service::queue::JobCall;
use crate::service::tasks::persons::{AddOneYear, AddOneYearArgs};

#[tokio::test]
async fn a_500_is_reported_with_its_request_id_and_route_and_no_secrets() {
    let sentry = FakeSentry::start();
    let database = TestDatabase::create().await;
    let (_service, address) = serve(&database, &[("APP__SENTRY__DSN", sentry.dsn.clone())]).await;
    let client = reqwest::Client::new();
    let created = create_person(&address).await;
    // Break the database under the service: the next read fails inside.
    let db = Database::connect(database.url.as_str())
        .await
        .expect("connect");
    db.execute_unprepared("DROP TABLE persons")
        .await
        .expect("drop");
    let request_id = format!("sentry-{}", Uuid::new_v4());

    let response = client
        .get(format!("{address}/v1/persons/{}", created["id"]))
        .header("x-request-id", &request_id)
        .header("authorization", "Bearer s3cret-bearer")
        .header("cookie", "session=s3cret-cookie")
        .send()
        .await
        .expect("request sent");

    assert_eq!(response.status(), 500);
    let event = sentry.event(|event| event["tags"]["request_id"] == request_id.as_str());
    // "error" is Sentry's default level, left out of the JSON.
    assert!(
        event.get("level").is_none_or(|level| level == "error"),
        "{event}"
    );
    assert_eq!(event["tags"]["route"], "/v1/persons/{id}");
    assert_eq!(event["tags"]["status"], "500");
    assert_eq!(event["environment"], "test");
    assert_eq!(event["transaction"], "GET /v1/persons/{id}");
    let cause = event["exception"]["values"][0]["value"]
        .as_str()
        .unwrap_or_default();
    assert!(cause.starts_with("database:"), "{event}");
    let sent = sentry.everything_sent();
    assert!(
        !sent.contains("s3cret"),
        "no header values are sent:\n{sent}"
    );
    assert!(
        !sent.contains(&database.url),
        "no configuration is sent:\n{sent}"
    );
}

#[tokio::test]
async fn a_task_that_fails_for_good_is_reported_with_the_scheduling_request_id() {
    let Some(redis) = TestRedis::find().await else {
        return;
    };
    let sentry = FakeSentry::start();
    let world = TaskWorld::new(&redis).await;
    let mut env = redis.env(&world.database.url);
    env.push(("APP__SENTRY__DSN".into(), sentry.dsn.clone()));
    let _worker = Process::start("worker", &env);
    let request_id = format!("sentry-task-{}", Uuid::new_v4());

    // No such person: the task fails at once, unrecoverably.
    let call = JobCall::new::<AddOneYear>(AddOneYearArgs {
        person_id: 987_654_321,
        pause_ms: 0,
    })
    .expect("call");
    let task = schedule_task(&world.tasks, call, Some(request_id.clone()))
        .await
        .expect("scheduled");

    let event = sentry.event(|event| event["tags"]["request_id"] == request_id.as_str());
    assert_eq!(event["tags"]["task"], "persons.add_one_year");
    assert_eq!(event["tags"]["task_id"], task.id.to_string());
    assert_eq!(event["message"], "task failed");
    assert_eq!(event["transaction"], "persons.add_one_year");
}
