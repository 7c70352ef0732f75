//! Checks of a rendered project that cargo does not run: its Dockerfile, entrypoint and
//! workflow through their linters, its running API against its own OpenAPI document
//! (schemathesis), and its docs pages in a real headless Chromium.
//!
//! The tools come from `.ci/tools` (PyPI, npm and Debian packages). Without one, its
//! check is skipped with a loud note; under `CI` it fails instead.
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use starter_tests::{describe, shared_target_dir, tool};

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

/// The rendered service, serving on a free port with a SQLite file, and an API key that
/// holds every permission its routes declare.
struct Service {
    child: Child,
    address: String,
    key: String,
    _dir: tempfile::TempDir,
}

/// Every permission the operations of an OpenAPI document (JSON text) declare.
fn permissions(spec: &str) -> Vec<String> {
    let spec: serde_json::Value = serde_json::from_str(spec).expect("the OpenAPI document");
    let mut found: Vec<String> = spec["paths"]
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(|item| item.as_object())
        .flat_map(|methods| methods.values())
        .filter_map(|operation| operation["security"].as_array())
        .flatten()
        .filter_map(|requirement| requirement["bearer"].as_array())
        .flatten()
        .filter_map(|scope| scope.as_str().map(str::to_owned))
        .collect();
    found.sort();
    found.dedup();
    found
}

impl Service {
    fn start(project: &Path, package: &str) -> Self {
        let binary = shared_target_dir().join("debug").join(package);
        let dir = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}/api.db?mode=rwc", dir.path().display());
        // A key, made as the project's README says (`keys create` migrates a test database
        // first), with every permission the document declares.
        let command = |args: &[&str]| {
            let mut command = Command::new(&binary);
            command
                .args(args)
                .current_dir(project)
                .env("APP_ENV", "test")
                .env("APP__DATABASE__URL", &database);
            command
        };
        let spec = run_ok(&mut command(&["openapi"]), "openapi");
        let mut create = vec!["keys", "create", "--name", "harness"];
        let scopes = permissions(&spec);
        for scope in &scopes {
            create.extend(["--scope", scope.as_str()]);
        }
        let key = run_ok(&mut command(&create), "keys create")
            .trim()
            .to_owned();
        assert!(
            key.starts_with("sk_"),
            "keys create printed the key: {key:?}"
        );
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
            key,
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
    // A list's page may be at most `api.max_page_depth` objects deep (page × per_page):
    // a rule across two parameters, which no schema can say, answered with a 400.
    let mut config = String::from(
        "[[operations]]\ninclude-path-regex = \"^/v1/[a-z_]+$\"\ninclude-method = \"GET\"\n\
         checks.positive_data_acceptance.expected-statuses = \
         [\"2xx\", \"3xx\", \"400\", \"401\", \"403\", \"404\", \"409\", \"422\", \"429\", \"5xx\"]\n\n",
    );
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
            // With a key that may do everything; schemathesis also calls without it and
            // checks the 401s.
            .args(["-H", &format!("Authorization: Bearer {}", service.key)])
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
/// (the template's, and `more` of the project's) must render from what the binary serves;
/// so must the team's guide at `/doc/guide/`. Keeps screenshots in the target folder.
pub fn docs_render_in_a_browser(project: &Path, package: &str, more: &[&str]) {
    let Some(chromium) = tool("chromium", "the docs page in a browser") else {
        return;
    };
    let service = Service::start(project, package);
    let profile = tempfile::tempdir().expect("profile dir");
    let browser = |path: &str, extra: &[String]| {
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
            .arg(format!("{}{path}", service.address));
        command
    };
    let dom = run_ok(
        &mut browser("/doc/", &["--dump-dom".into()]),
        "chromium --dump-dom",
    );
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
    // The security scheme gives Swagger UI its Authorize button (a key or a token goes
    // in its one `bearer` field), and each protected operation its lock.
    assert!(
        dom.contains("btn authorize") && dom.contains("authorization__btn"),
        "the Authorize button and the operations' locks are rendered:\n{}",
        &dom[..dom.len().min(3000)]
    );
    let guide = run_ok(
        &mut browser("/doc/guide/", &["--dump-dom".into()]),
        "chromium --dump-dom /doc/guide/",
    );
    // The Markdown rendered: headings with their ids, the tables, the menu.
    for rendered in [
        "<h2 id=\"request-ids\">Request ids</h2>",
        "<h2 id=\"paging\">Paging</h2>",
        "<table>",
        "<a href=\"errors\">Errors</a>",
        "<a href=\"../\">API reference</a>",
    ] {
        assert!(
            guide.contains(rendered),
            "{rendered} is not on /doc/guide/:\n{}",
            &guide[..guide.len().min(3000)]
        );
    }
    let artifacts = shared_target_dir().join("artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    for (path, name) in [("/doc/", "doc"), ("/doc/guide/", "guide")] {
        let screenshot = artifacts.join(format!("{package}-{name}.png"));
        run_ok(
            &mut browser(
                path,
                &[
                    format!("--screenshot={}", screenshot.display()),
                    "--window-size=1280,1600".into(),
                ],
            ),
            "chromium --screenshot",
        );
        let size = std::fs::metadata(&screenshot).map(|m| m.len()).unwrap_or(0);
        assert!(
            size > 10_000,
            "a screenshot of {path} at {}",
            screenshot.display()
        );
        eprintln!("docs screenshot: {}", screenshot.display());
    }
}
