//! Error reports reach Sentry (a fake endpoint here) from a `serve` process answering a
//! 500 and from a `worker` process whose task fails, tagged and without secrets.
use sea_orm::ConnectionTrait;
use uuid::Uuid;

use crate::service::controllers::tasks::schedule_task;
use crate::support::database::TestDatabase;
use crate::support::fixtures;
use crate::support::listeners::FakeSentry;
use crate::support::process::{Process, serve};
use crate::support::redis::TestRedis;
use crate::support::tasks::TaskWorld;

#[tokio::test]
async fn a_500_is_reported_with_its_request_id_and_route_and_no_secrets() {
    let sentry = FakeSentry::start();
    let database = TestDatabase::create().await;
    let (_service, api) = serve(&database, &[("APP__SENTRY__DSN", sentry.dsn.clone())]).await;
    let db = database.connect().await;
    let created = fixtures::person(&db, "Ada", 36).await;
    // Break the database under the service: the next read fails inside. Renamed rather
    // than dropped: tables that refer to persons would stop a drop.
    db.execute_unprepared("ALTER TABLE persons RENAME TO gone")
        .await
        .expect("rename");
    let request_id = format!("sentry-{}", Uuid::new_v4());

    let response = api
        .get(&format!("/v1/persons/{}", created.id))
        .header("x-request-id", &request_id)
        .header("x-auth-token", "s3cret-token")
        .header("cookie", "session=s3cret-cookie")
        .await;

    assert_eq!(response.status(), 500);
    let event = sentry
        .event(|event| event["tags"]["request_id"] == request_id.as_str())
        .await;
    // "error" is Sentry's default level, left out of the JSON.
    assert!(
        event.get("level").is_none_or(|level| level == "error"),
        "{event}"
    );
    assert_eq!(event["tags"]["route"], "/v1/persons/{id}");
    assert_eq!(event["tags"]["caller"], "key:tests", "who called");
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
    let call = fixtures::add_one_year(987_654_321, 0);
    let task = schedule_task(&world.tasks, call, Some(request_id.clone()))
        .await
        .expect("scheduled");

    let event = sentry
        .event(|event| event["tags"]["request_id"] == request_id.as_str())
        .await;
    assert_eq!(event["tags"]["task"], "persons.add_one_year");
    assert_eq!(event["tags"]["task_id"], task.id.to_string());
    assert_eq!(event["message"], "task failed");
    assert_eq!(event["transaction"], "persons.add_one_year");
}
