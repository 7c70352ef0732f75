//! The container entrypoint's role dispatch, run with a stand-in for the service binary
//! (no Docker engine needed).
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs `docker/entrypoint.sh args...` with `APP_BIN` a script that prints what it got.
fn entrypoint(args: &[&str], vars: &[(&str, &str)]) -> (Output, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let calls = dir.path().join("calls");
    let stub = dir.path().join("service");
    let script = [
        "#!/bin/sh\n",
        "echo \"$* | config=$",
        "{APP_CONFIG_YAML:-none}\" >> ",
        &calls.display().to_string(),
        "\n",
    ];
    std::fs::write(&stub, script.concat()).expect("stub");
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docker/entrypoint.sh");
    let output = Command::new("sh")
        .arg(script)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("APP_BIN", &stub)
        .envs(vars.iter().copied())
        .output()
        .expect("sh runs");
    let calls = std::fs::read_to_string(calls).unwrap_or_default();
    (output, calls)
}

#[test]
fn each_role_runs_its_command() {
    let cases: [(&[&str], &str); 6] = [
        (&[], "serve"),
        (&["api"], "serve"),
        (&["api", "--help"], "serve --help"),
        (&["worker"], "worker"),
        (&["beat"], "beat"),
        (&["main", "db", "upgrade", "2"], "db upgrade 2"),
    ];
    for (args, expected) in cases {
        let (output, calls) = entrypoint(args, &[]);
        assert!(output.status.success(), "{args:?}: {output:?}");
        assert_eq!(calls, format!("{expected} | config=none\n"), "{args:?}");
    }
}

#[test]
fn the_api_migrates_first_when_asked_to() {
    let (output, calls) = entrypoint(&["api"], &[("MIGRATE_ON_START", "true")]);

    assert!(output.status.success(), "{output:?}");
    assert_eq!(calls, "db upgrade | config=none\nserve | config=none\n");
}

#[test]
fn the_config_variables_reach_the_service_untouched() {
    // The service reads (and decodes) them itself, so the health check sees them too.
    let (output, calls) = entrypoint(&["worker"], &[("APP_CONFIG_YAML", "server: {}")]);

    assert!(output.status.success(), "{output:?}");
    assert_eq!(calls, "worker | config=server: {}\n");
}

#[test]
fn bad_invocations_say_why_and_run_nothing() {
    let cases: [(&[&str], &str); 2] = [
        (&["main"], "main needs a command"),
        (&["cron"], "unknown role \"cron\""),
    ];
    for (args, message) in cases {
        let (output, calls) = entrypoint(args, &[]);
        assert_eq!(output.status.code(), Some(64), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(calls.is_empty(), "{args:?} ran {calls}");
    }
}
