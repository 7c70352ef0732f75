//! The service's commands (`serve`, `worker`, `beat`) as processes, as they run in
//! production: for what one process cannot show (signals, crashes, several workers,
//! per-process counters, log sinks).
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use crate::service::BIN;
use crate::support::app::{Api, every_permission, make_key};
use crate::support::database::TestDatabase;
use crate::support::eventually;

/// A `serve` process on a free port with its own database, plus `vars`; and calls to it,
/// with a key holding every permission.
pub async fn serve(database: &TestDatabase, vars: &[(&str, String)]) -> (Process, Api) {
    let mut env = vec![
        ("APP__DATABASE__URL".to_owned(), database.url.clone()),
        ("APP__DATABASE__AUTO_MIGRATE".to_owned(), "true".to_owned()),
        ("APP__SERVER__PORT".to_owned(), "0".to_owned()),
    ];
    env.extend(vars.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let process = Process::start("serve", &env);
    let address = process.address("serving").await;
    // The process migrated its database before serving.
    let key = make_key(&database.connect().await, "tests", &every_permission()).await;
    (process, Api::with_credential(address, &key))
}

/// A service process whose output goes to a file.
pub struct Process {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Process {
    pub fn start(command: &str, vars: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join(format!("{command}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut run = Command::new(BIN);
        run.arg(command)
            .env("APP_ENV", "test")
            .env("APP__LOG__LEVEL", "info,sqlx=warn,fred=warn")
            .env("APP__LOG__STDOUT__FORMAT", "compact")
            .env("NO_COLOR", "1");
        for name in ["APP_CONFIG", "APP_CONFIG_YAML", "RUST_LOG"] {
            run.env_remove(name);
        }
        // A collector of the developer's own (OTEL_EXPORTER_OTLP_ENDPOINT ...) stays out.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OTEL_") {
                run.env_remove(name);
            }
        }
        run.envs(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .stdin(Stdio::null());
        let child = run.spawn().expect("the service binary starts");
        Self {
            child,
            log,
            _dir: dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the process wrote so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal (`KILL`, `TERM`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -{name}");
    }

    /// Waits for the process to exit.
    pub async fn exited(&mut self, patience: Duration) -> ExitStatus {
        let status = eventually(
            patience,
            async || self.child.try_wait().expect("status"),
            Option::is_some,
        )
        .await;
        status.unwrap_or_else(|| panic!("still running after {patience:?}:\n{}", self.output()))
    }

    /// The `http://host:port` a `serve` process (or the metrics listener of a `worker`)
    /// listens on, from its "serving" line.
    pub async fn address(&self, line: &str) -> String {
        self.wrote(line, Duration::from_secs(30)).await;
        let output = self.output();
        let found = output
            .lines()
            .find(|text| text.contains(line))
            .and_then(|text| text.split("address=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address on the {line:?} line:\n{output}"));
        format!("http://{found}")
    }

    /// Waits until the process has written `text`.
    pub async fn wrote(&self, text: &str, patience: Duration) {
        let output = eventually(
            patience,
            async || self.output(),
            |output| output.contains(text),
        )
        .await;
        assert!(
            output.contains(text),
            "no {text:?} after {patience:?}:\n{output}"
        );
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
