//! The command line, run as a user would run it.
use std::process::{Command, Output};

use crate::service::BIN;
use crate::support::app::{HalfSentRequest, every_permission, make_key, spawn_app};
use crate::support::database::TestDatabase;
use crate::support::eventually;

fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).env("APP_ENV", "test");
    for name in ["APP_CONFIG", "APP_CONFIG_YAML", "RUST_LOG"] {
        command.env_remove(name);
    }
    command.envs(vars.iter().copied());
    command.output().expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn db_commands_upgrade_report_and_downgrade_the_schema() {
    let database = TestDatabase::create().await;
    let vars = [("APP__DATABASE__URL", database.url.as_str())];

    let before = stdout(&run(&["db", "status"], &vars));
    assert!(
        before.contains("pending m20250101_000001_create_persons"),
        "{before}"
    );

    let upgraded = stdout(&run(&["db", "upgrade"], &vars));
    assert!(
        upgraded.contains("applied m20250101_000001_create_persons"),
        "{upgraded}"
    );
    assert!(!upgraded.contains("pending"), "{upgraded}");

    let downgraded = stdout(&run(&["db", "downgrade"], &vars));
    // Only the last migration (whichever it is: projects add theirs) is reverted.
    let lines: Vec<&str> = downgraded.lines().collect();
    let (last, earlier) = lines.split_last().expect("migrations are listed");
    assert!(last.starts_with("pending "), "{downgraded}");
    assert!(
        earlier.iter().all(|line| line.starts_with("applied "))
            && downgraded.contains("applied m20250101_000001_create_persons"),
        "only the last migration is reverted: {downgraded}"
    );
}

#[test]
fn config_prints_the_settings_without_secrets() {
    let url = "postgres://app:hunter2@db.internal:5432/app";

    let printed = stdout(&run(&["config"], &[("APP__DATABASE__URL", url)]));

    assert!(printed.contains("env: test"), "{printed}");
    assert!(printed.contains("db.internal"), "{printed}");
    assert!(!printed.contains("hunter2"), "{printed}");
}

#[test]
fn bad_configuration_stops_with_one_clear_message() {
    for (vars, expected) in [
        (vec![("APP_ENV", "staging")], "APP_ENV"),
        (vec![("APP__SERVER__PORT", "eighty")], "port"),
        (
            vec![("APP_CONFIG", "/nonexistent/app.yaml")],
            "/nonexistent/app.yaml",
        ),
        (
            vec![("APP_ENV", "prod"), ("APP__DATABASE__URL", "")],
            "database.url",
        ),
    ] {
        let output = run(&["serve"], &vars);
        assert!(!output.status.success(), "{vars:?} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{vars:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_and_exits_cleanly() {
    use std::time::Duration;

    use tokio::net::TcpStream;

    let database = TestDatabase::create().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
        .to_string();
    let mut server = Command::new(BIN)
        .arg("serve")
        .env("APP_ENV", "test")
        .env("APP__DATABASE__URL", &database.url)
        .env("APP__SERVER__PORT", &port)
        .spawn()
        .expect("serve starts");
    let address = format!("127.0.0.1:{port}");
    let patience = Duration::from_secs(5);
    eventually(
        patience,
        async || TcpStream::connect(&address).await.is_ok(),
        |&listening| listening,
    )
    .await;
    // It migrated its database before listening.
    let key = make_key(&database.connect().await, "tests", &every_permission()).await;
    let request = HalfSentRequest::start(&address, &key).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.try_wait().expect("status").is_none(),
        "still serving the request"
    );

    let answer = request.finish().await;
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");

    let status = eventually(
        patience,
        async || server.try_wait().expect("status"),
        Option::is_some,
    )
    .await;
    let status = status.unwrap_or_else(|| {
        let _ = server.kill();
        panic!("the service did not exit within 5 s of SIGTERM")
    });
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn worker_and_beat_without_redis_say_what_is_missing() {
    let database = TestDatabase::create().await;
    for command in ["worker", "beat"] {
        // APP_ENV=test runs tasks in-process: there is no queue to work on.
        let output = run(&[command], &[("APP__DATABASE__URL", database.url.as_str())]);

        assert!(!output.status.success(), "{command} must fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("redis.url"), "{command}: {stderr}");
    }
}

#[tokio::test]
async fn health_exits_zero_only_when_the_service_answers() {
    let app = spawn_app().await;
    let ping = app.url("/mon/ping");

    // Run off the test's runtime: the service answering lives on it.
    let answered = tokio::task::spawn_blocking(move || run(&["health", &ping], &[]))
        .await
        .expect("ran");
    assert!(answered.status.success(), "{answered:?}");

    let missing = app.url("/no/such/route");
    let not_found = tokio::task::spawn_blocking(move || run(&["health", &missing], &[]))
        .await
        .expect("ran");
    assert!(!not_found.status.success());
    assert!(String::from_utf8_lossy(&not_found.stderr).contains("answered 404"));

    // Nothing listens on port 1.
    let down = run(&["health", "http://127.0.0.1:1/mon/ping"], &[]);
    assert!(!down.status.success());
    assert!(String::from_utf8_lossy(&down.stderr).contains("127.0.0.1:1"));
}
