//! The command line, run as a user would run it.
use std::process::{Command, Output};

use crate::helpers::TestDatabase;
use crate::service::BIN;

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
    assert!(
        downgraded.contains("pending m20250101_000001_create_persons"),
        "{downgraded}"
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

#[test]
fn db_new_adds_a_registered_migration_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let lib = std::fs::read_to_string("migration/src/lib.rs").expect("read lib.rs");
    std::fs::write(dir.path().join("lib.rs"), lib).expect("copy lib.rs");
    let folder = dir.path().to_str().expect("UTF-8 path");

    let printed = stdout(&run(&["db", "new", "add_email", "--dir", folder], &[]));

    assert!(printed.contains("_add_email.rs"), "{printed}");
    let patched = std::fs::read_to_string(dir.path().join("lib.rs")).expect("read");
    assert!(patched.contains("_add_email::Migration"), "{patched}");
    let refused = run(&["db", "new", "Add-Email", "--dir", folder], &[]);
    assert!(!refused.status.success());
}
