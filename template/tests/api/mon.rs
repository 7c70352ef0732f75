use crate::support::app::{spawn_app, spawn_app_with};

#[tokio::test]
async fn ping_answers_ok() {
    let app = spawn_app().await;

    let response = app.get("/mon/ping").await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn ready_checks_the_database_and_skips_redis_when_tasks_run_in_process() {
    let app = spawn_app().await;

    let response = app.get("/mon/ready").await;

    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"], "ok");
    assert!(body["checks"].get("redis").is_none(), "{body}");
}

#[tokio::test]
async fn ready_is_a_503_naming_redis_when_redis_is_away() {
    let app = spawn_app_with(|settings| {
        // Nothing listens on port 1.
        settings.redis.url = Some("redis://127.0.0.1:1".parse().expect("a Redis URL"));
        settings.redis.command_timeout_ms = 300;
        settings.tasks.eager = false;
    })
    .await;

    let response = app.get("/mon/ready").await;

    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.expect("JSON");
    assert_eq!(body["checks"]["redis"], "unavailable");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(
        app.get("/mon/ping").await.status(),
        200,
        "liveness is unaffected"
    );
}

#[tokio::test]
async fn ready_flips_while_the_database_refuses_connections() {
    use sea_orm::ConnectionTrait;

    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        crate::support::notice("*** SQLite: the database outage test is SKIPPED.");
        return;
    }
    let mut admin_url = url::Url::parse(&app.database_url).expect("URL");
    let name = admin_url.path().trim_start_matches('/').to_owned();
    admin_url.set_path("/postgres");
    let admin = sea_orm::Database::connect(admin_url.as_str())
        .await
        .expect("connect as admin");
    let refuse = [
        format!("ALTER DATABASE {name} WITH ALLOW_CONNECTIONS false"),
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    ];
    for statement in refuse {
        admin.execute_unprepared(&statement).await.expect("refuse");
    }

    let down = app.get("/mon/ready").await;
    admin
        .execute_unprepared(&format!(
            "ALTER DATABASE {name} WITH ALLOW_CONNECTIONS true"
        ))
        .await
        .expect("allow again");
    let up = app.get("/mon/ready").await;

    assert_eq!(down.status(), 503);
    let body: serde_json::Value = down.json().await.expect("JSON");
    assert_eq!(body["checks"]["database"], "unavailable");
    assert_eq!(up.status(), 200, "ready again once the database is back");
}
