//! Checks of a rendered project that cargo does not run: its Dockerfile, entrypoint and
//! workflow through their linters, its running API against its own OpenAPI document
//! (schemathesis), and its docs page in a real headless Chromium.
//!
//! The tools come from `.ci/tools` (PyPI, npm and Debian packages). Without one, its
//! check is skipped with a loud note; under `CI` it fails instead.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use starter_tests::{describe, on_path, shared_target_dir};

/// `name` on the PATH, or `None` after saying the check is skipped.
pub fn tool(name: &str, check: &str) -> Option<PathBuf> {
    let found = on_path(name);
    if found.is_none() {
        let message = format!("no `{name}` on the PATH (see .ci/tools): {check} SKIPPED");
        assert!(std::env::var_os("CI").is_none(), "{message} (CI is set)");
        eprintln!("*** {message}");
    }
    found
}

fn run_ok(command: &mut Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(output.status.success(), "{what}:\n{}", describe(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// hadolint on the Dockerfile, shellcheck on the entrypoint, actionlint on the workflow.
pub fn lint(project: &Path) {
    if let Some(hadolint) = tool("hadolint", "the Dockerfile lint") {
        run_ok(
            Command::new(hadolint).arg(project.join("Dockerfile")),
            "hadolint Dockerfile",
        );
    }
    if let Some(shellcheck) = tool("shellcheck", "the entrypoint lint") {
        run_ok(
            Command::new(shellcheck).arg(project.join("docker/entrypoint.sh")),
            "shellcheck docker/entrypoint.sh",
        );
    }
    if let Some(actionlint) = tool("actionlint", "the workflow lint") {
        run_ok(
            Command::new(actionlint).arg(project.join(".github/workflows/ci.yml")),
            "actionlint .github/workflows/ci.yml",
        );
    }
}

/// The rendered service, serving on a free port with a SQLite file.
struct Service {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Service {
    fn start(project: &Path, package: &str) -> Self {
        let binary = shared_target_dir().join("debug").join(package);
        let dir = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}/api.db?mode=rwc", dir.path().display());
        let mut child = Command::new(&binary)
            .arg("serve")
            // Its config/ folder is read from the working folder.
            .current_dir(project)
            .env("APP_ENV", "test")
            .env("APP__DATABASE__URL", database)
            .env("APP__SERVER__PORT", "0")
            .env("APP__LOG__LEVEL", "info,sqlx=warn")
            .env("APP__LOG__STDOUT__FORMAT", "compact")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
        let stdout = child.stdout.take().expect("stdout");
        let (found, address) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("serving address=").nth(1) {
                    let _ = found.send(rest.split_whitespace().next().unwrap_or("").to_owned());
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(30))
            .expect("the service says where it listens");
        Self {
            child,
            address: format!("http://{address}"),
            _dir: dir,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// schemathesis against the running API: no 5xx, answers as documented. `referring`
/// are the collections whose bodies refer to other rows by id: there a well-formed id
/// that no row has is a 422, which no schema can say, so the check that valid data is
/// accepted allows it for them.
pub fn fuzz_the_api(project: &Path, package: &str, referring: &[&str]) {
    let Some(st) = tool("st", "the API fuzzing (schemathesis)") else {
        return;
    };
    let service = Service::start(project, package);
    // schemathesis keeps a cache in its working folder: not in the repository.
    let scratch = tempfile::tempdir().expect("temp dir");
    let mut config = String::new();
    for path in referring {
        config.push_str(&format!(
            "[[operations]]\ninclude-path-regex = \"^{path}(/|$)\"\n\
             checks.positive_data_acceptance.expected-statuses = \
             [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"422\", \"429\", \"5xx\"]\n\n"
        ));
    }
    std::fs::write(scratch.path().join("schemathesis.toml"), config).expect("config");
    let started = Instant::now();
    // A fixed seed: the same cases at each run, so that CI is repeatable. Stateful
    // testing is off: it links `id`s across resources (a person's id into /v1/tasks/{id},
    // a UUID) and reports the refusals as failures.
    let output = run_ok(
        Command::new(st)
            .current_dir(scratch.path())
            .arg("run")
            .arg(format!("{}/doc/openapi.json", service.address))
            .args(["--checks", "all", "--phases", "examples,coverage,fuzzing"])
            .args(["--max-examples", "60", "--seed", "1", "--no-color"]),
        "schemathesis",
    );
    eprintln!(
        "schemathesis: {} in {:?}",
        output
            .lines()
            .rev()
            .find(|l| l.contains("generated"))
            .unwrap_or("done")
            .trim(),
        started.elapsed()
    );
}

/// Headless Chromium opens `/doc` with every outside host unresolvable: the operations
/// (the template's, and `more` of the project's) must render from what the binary serves.
/// Keeps a screenshot in the target folder.
pub fn docs_render_in_a_browser(project: &Path, package: &str, more: &[&str]) {
    let Some(chromium) = tool("chromium", "the docs page in a browser") else {
        return;
    };
    let service = Service::start(project, package);
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = |extra: &[String]| {
        let mut command = Command::new(&chromium);
        command
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
            ])
            .args(["--no-first-run", "--disable-background-networking"])
            .args(["--disable-component-update", "--disable-sync"])
            // Nothing but the service resolves: a CDN asset would not load.
            .arg("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("--virtual-time-budget=15000")
            .args(extra)
            .arg(format!("{}/doc/", service.address));
        command
    };
    let dom = run_ok(&mut browser(&["--dump-dom".into()]), "chromium --dump-dom");
    let operations = ["/v1/persons/{id}", "/v1/tasks/{id}", "/mon/ready"];
    for operation in operations.iter().chain(more) {
        assert!(
            dom.contains(&format!("data-path=\"{operation}\"")),
            "{operation} is not rendered on /doc:\n{}",
            &dom[..dom.len().min(3000)]
        );
    }
    assert!(
        dom.contains("opblock-summary-method"),
        "operations are rendered"
    );
    let artifacts = shared_target_dir().join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    let screenshot = artifacts.join(format!("{package}-doc.png"));
    run_ok(
        &mut browser(&[
            format!("--screenshot={}", screenshot.display()),
            "--window-size=1280,1600".into(),
        ]),
        "chromium --screenshot",
    );
    let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
    assert!(
        size > 10_000,
        "a screenshot of the docs at {}",
        screenshot.display()
    );
    eprintln!("docs screenshot: {}", screenshot.display());
}
