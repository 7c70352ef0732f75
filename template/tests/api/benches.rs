//! The benchmark scripts that run against a database, on the real schema.
use std::process::Command;

use crate::service::BIN;
use crate::support::database::TestDatabase;
use crate::support::skip;

/// Whether `tool` runs here; without it, the test is skipped (see [`skip`]).
fn have(tool: &str) -> bool {
    let found = Command::new(tool).arg("--version").output().is_ok();
    if !found {
        skip(&format!(
            "no `{tool}` (Debian: apt-get install postgresql): the ceiling test is SKIPPED"
        ));
    }
    found
}

#[tokio::test]
async fn tasks_ceiling_runs_the_engines_statements_on_the_migrated_schema() {
    let database = TestDatabase::create().await;
    if database.url.starts_with("sqlite:") || !have("pgbench") || !have("psql") {
        return;
    }
    let output = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/benches/tasks_ceiling.sh"
        ))
        .env("BENCH_DATABASE_URL", &database.url)
        .env("SERVICE_BIN", BIN)
        .env("DURATION", "1")
        .env("POOL", "2")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "tasks_ceiling.sh failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for workload in ["engine", "no task rows"] {
        let line = stdout
            .lines()
            .find(|line| line.starts_with(workload))
            .unwrap_or_else(|| panic!("no {workload:?} line in:\n{stdout}"));
        let rate: f64 = line
            .trim_start_matches(workload)
            .split_whitespace()
            .next()
            .and_then(|rate| rate.parse().ok())
            .unwrap_or_else(|| panic!("no rate in {line:?}"));
        assert!(rate > 0.0, "{line}");
    }
}
