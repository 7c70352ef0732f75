//! Deployment, run for real, on the acme-billing render: its image built and run by a
//! Docker engine (the roles, the health checks, a worker draining on `docker stop`), its
//! `compose.yaml` brought up and down, a few of its functional tests on testcontainers,
//! and its Kubernetes manifests checked offline (kubernetes-validate, checkov).
//!
//! `eval "$(.ci/docker)"` starts an engine and makes the base images; `eval "$(.ci/tools)"`
//! installs the Kubernetes checkers. Without them these tests are skipped with a loud note;
//! under `CI` they fail instead. Containers share the host's network and listen on
//! 127.0.0.1 only (free ports), have names of their own, and are removed when a test ends,
//! passed or failed. Run them alone with `cargo test --test deploy`.
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use starter_tests::{
    builds_in_shared_target, cargo, describe, on_path, render, repo_root, shared_target_dir,
};

const PACKAGE: &str = "acme-billing";
/// What the tests build; compose.yaml's own tag (`acme-billing:dev`) is added to it.
const IMAGE: &str = "acme-billing:deploy-test";

// ---------------------------------------------------------------------------------------
// Kubernetes manifests (no engine needed)

#[test]
fn kubernetes_manifests_validate_and_pass_checkov() {
    let project = project();
    let dir = project.join("deploy/kubernetes");
    let manifests = manifests(&dir);
    assert!(manifests.len() >= 6, "manifests in {}", dir.display());
    kustomizations_hold_together(&dir, &manifests);
    grace_outlasts_the_drain(project);

    if let Some(validate) = tool("kubernetes-validate", "the Kubernetes schema check") {
        let run = |files: &[PathBuf]| {
            Command::new(&validate)
                .args(["--strict", "--quiet"])
                .args(files)
                .output()
                .expect("kubernetes-validate runs")
        };
        let output = run(&manifests);
        assert!(
            output.status.success(),
            "kubernetes-validate:\n{}",
            describe(&output)
        );
        // It can fail: a field Kubernetes does not know.
        let scratch = tempfile::tempdir().expect("temp dir");
        let broken = scratch.path().join("api.yaml");
        let api = read(&dir.join("app/api.yaml"));
        std::fs::write(
            &broken,
            api.replacen(
                "      containers:",
                "      containerz: []\n      containers:",
                1,
            ),
        )
        .expect("write");
        let output = run(&[broken]);
        assert!(
            !output.status.success(),
            "an unknown field passes:\n{}",
            describe(&output)
        );
    }

    if let Some(checkov) = tool("checkov", "the Kubernetes checks (checkov)") {
        let output = checkov_on(&checkov, &dir);
        let said = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(output.status.success(), "checkov:\n{}", describe(&output));
        let skipped = count_after(&said, "Skipped checks: ");
        let annotations: u64 = manifests
            .iter()
            .map(|file| read(file).matches("checkov.io/skip").count() as u64)
            .sum();
        assert!(
            skipped > 0 && skipped == annotations,
            "skips: {skipped} reported, {annotations} annotated:\n{said}"
        );
        // Each skip says why, in place.
        for file in &manifests {
            for line in read(file).lines().filter(|l| l.contains("checkov.io/skip")) {
                let reason = line
                    .split_once('=')
                    .map(|(_, why)| why.trim())
                    .unwrap_or("");
                assert!(
                    reason.len() > 20,
                    "{}: a skip without its reason: {line}",
                    file.display()
                );
            }
        }
        eprintln!(
            "checkov: {}",
            said.lines()
                .find(|l| l.contains("Passed checks"))
                .unwrap_or("")
                .trim()
        );
        // It can fail: a container that may write its root filesystem.
        let scratch = tempfile::tempdir().expect("temp dir");
        copy_dir(&dir, scratch.path());
        let api = scratch.path().join("app/api.yaml");
        let text = read(&api).replacen(
            "readOnlyRootFilesystem: true",
            "readOnlyRootFilesystem: false",
            1,
        );
        std::fs::write(&api, text).expect("write");
        let output = checkov_on(&checkov, scratch.path());
        assert!(
            !output.status.success()
                && String::from_utf8_lossy(&output.stdout).contains("CKV_K8S_22"),
            "a writable root filesystem passes checkov:\n{}",
            describe(&output)
        );
    }
}

/// checkov's Kubernetes checks on `dir`, with no network at all when the machine can
/// give it none (`unshare --net`, as root): nothing is fetched.
fn checkov_on(checkov: &Path, dir: &Path) -> Output {
    let args = [
        "-d",
        ".",
        "--framework",
        "kubernetes",
        "--skip-download",
        "--compact",
        "--quiet",
    ];
    let offline = Command::new("unshare")
        .args(["--net", "true"])
        .output()
        .is_ok_and(|o| o.status.success());
    let mut command = if offline {
        let mut command = Command::new("unshare");
        command.arg("--net").arg(checkov);
        command
    } else {
        Command::new(checkov)
    };
    command
        .args(args)
        .current_dir(dir)
        .env("BC_SKIP_MAPPING", "TRUE")
        .output()
        .expect("checkov runs")
}

/// The YAML files below `dir` that are Kubernetes objects (not kustomizations).
fn manifests(dir: &Path) -> Vec<PathBuf> {
    starter_tests::files(dir)
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .filter(|path| path.file_name().is_some_and(|n| n != "kustomization.yaml"))
        .map(|path| dir.join(path))
        .collect()
}

/// Each kustomization's resources exist and list every manifest of its folder, and every
/// workload runs the image the `image` component rewrites.
fn kustomizations_hold_together(dir: &Path, manifests: &[PathBuf]) {
    let image = read(&dir.join("image/kustomization.yaml"));
    assert!(
        image.contains("kind: Component") && image.contains(&format!("- name: {PACKAGE}\n")),
        "{image}"
    );
    for folder in ["app", "migrate"] {
        let kustomization = read(&dir.join(folder).join("kustomization.yaml"));
        assert!(
            kustomization.contains("  - ../image\n"),
            "{folder} uses the image component"
        );
        let listed: Vec<&str> = kustomization
            .lines()
            .skip_while(|l| *l != "resources:")
            .skip(1)
            .take_while(|l| l.starts_with("  - "))
            .map(|l| l.trim_start_matches("  - "))
            .collect();
        let present: Vec<String> = manifests
            .iter()
            .filter(|m| m.parent() == Some(&dir.join(folder)))
            .map(|m| m.file_name().expect("name").to_string_lossy().into_owned())
            .collect();
        let mut sorted = listed.clone();
        sorted.sort();
        let mut files: Vec<&str> = present.iter().map(String::as_str).collect();
        files.sort();
        assert_eq!(
            sorted, files,
            "{folder}/kustomization.yaml lists its manifests"
        );
    }
    for manifest in manifests {
        for line in read(manifest)
            .lines()
            .filter(|l| l.trim_start().starts_with("image: "))
        {
            assert_eq!(
                line.trim(),
                format!("image: {PACKAGE}:0.1.0"),
                "{}",
                manifest.display()
            );
        }
    }
}

/// A worker's grace period is longer than its drain (`tasks.shutdown_timeout_secs`).
fn grace_outlasts_the_drain(project: &Path) {
    let defaults = read(&project.join("config/default.yaml"));
    let tasks = defaults
        .split("\ntasks:\n")
        .nth(1)
        .expect("a tasks section");
    let drain = count_after(tasks, "shutdown_timeout_secs: ");
    let worker = read(&project.join("deploy/kubernetes/app/worker.yaml"));
    let grace = count_after(&worker, "terminationGracePeriodSeconds: ");
    assert!(
        grace > drain + 5,
        "grace {grace} s for a drain of {drain} s"
    );
}

// ---------------------------------------------------------------------------------------
// The image and its roles

#[test]
fn the_image_runs_its_roles_and_drains_on_stop() {
    let Some(_engine) = engine() else { return };
    let image = image();
    let mut containers = Containers::default();

    // Unprivileged, and its commands answer.
    let uid = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "--entrypoint",
        "id",
        image,
        "-u",
    ]);
    assert_eq!(uid.trim(), "10001");
    let version = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        image,
        "main",
        "--version",
    ]);
    assert_eq!(version.trim(), format!("{PACKAGE} 0.1.0"));
    let spec = docker_ok(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-e",
        "APP_ENV=test",
        image,
        "main",
        "openapi",
    ]);
    let spec: Value = serde_json::from_str(&spec).expect("openapi prints JSON");
    assert!(
        spec["paths"]["/v1/persons/{id}/birthday"].is_object(),
        "{spec}"
    );

    let servers = Servers::start(&mut containers);
    let api_port = free_port();
    let api = containers.run(
        "api",
        &[
            "-e",
            "MIGRATE_ON_START=true",
            "-e",
            &config_b64(&servers.config(api_port, free_port(), "")),
        ],
        image,
        &["api"],
    );
    let base = format!("http://127.0.0.1:{api_port}");
    wait_for(
        "the api's /mon/ready",
        Duration::from_secs(90),
        || {
            http("GET", &format!("{base}/mon/ready"), None, &[])
                .is_ok_and(|(status, _)| status == 200)
        },
        || containers.logs(&api),
    );
    let log = containers.logs(&api);
    assert!(
        log.contains("Applying migration"),
        "the api migrated first:\n{log}"
    );
    // A key for the calls below, made in the image as the README says.
    let keys_config = config_b64(&servers.config(free_port(), free_port(), ""));
    let key = make_key(vec![
        "run",
        "--rm",
        "--network",
        "host",
        "-e",
        &keys_config,
        image,
        "main",
    ]);

    // A birthday scheduled over the api is run by a worker, request id and all.
    let worker = containers.run(
        "worker",
        &[
            "-e",
            &config_b64(&servers.config(free_port(), free_port(), "")),
        ],
        image,
        &["worker"],
    );
    let ada = create_person(&base, &key, "Ada Lovelace", 36);
    let request_id = format!("deploy-{}-birthday", std::process::id());
    let (status, task) = http(
        "POST",
        &format!("{base}/v1/persons/{ada}/birthday"),
        None,
        &[
            ("x-request-id", &request_id),
            ("authorization", &bearer(&key)),
        ],
    )
    .expect("birthday");
    assert_eq!(status, 202, "{task}");
    let task = task["id"].as_str().expect("task id").to_owned();
    let done = wait_for_task(&base, &key, &task, || containers.logs(&worker));
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["caller"], "key:deploy", "{done}");
    assert_eq!(person(&base, &key, ada)["age"], 37);
    assert!(
        containers.logs(&worker).contains(&request_id),
        "the request id is in the worker's log:\n{}",
        containers.logs(&worker)
    );

    // A beat fires a schedule each second; each task takes 3 s in the worker.
    let grace = create_person(&base, &key, "Grace Hopper", 0);
    let schedule = format!(
        "beat:\n  schedules:\n    every-second:\n      cron: \"* * * * * *\"\n      \
         task: persons.add_one_year\n      args:\n        person_id: {grace}\n        pause_ms: 3000\n"
    );
    let beat = containers.run(
        "beat",
        &[
            "-e",
            &config_b64(&servers.config(free_port(), free_port(), &schedule)),
        ],
        image,
        &["beat"],
    );
    wait_for(
        "three ticks run by the worker",
        Duration::from_secs(60),
        || person(&base, &key, grace)["age"].as_i64().unwrap_or(0) >= 3,
        || containers.logs(&beat) + &containers.logs(&worker),
    );
    assert!(
        containers.logs(&beat).contains("fired"),
        "{}",
        containers.logs(&beat)
    );

    // The image's health check, as shipped, on each role.
    for name in [&api, &worker, &beat] {
        wait_for(
            &format!("{name} healthy"),
            Duration::from_secs(60),
            || {
                docker(&["inspect", "--format", "{{.State.Health.Status}}", name])
                    .stdout
                    .starts_with(b"healthy")
            },
            || docker_ok(&["inspect", "--format", "{{json .State.Health}}", name]),
        );
    }
    // What the Kubernetes manifests' resource requests are sized from.
    for name in [&api, &worker, &beat] {
        eprintln!("{name}: {}", memory(name));
    }

    // Stopped while the beat keeps firing, the worker takes no new task and lets the
    // running ones finish, then exits 0; so does the beat.
    let running = running_tasks(&containers.logs(&worker));
    assert!(
        !running.is_empty(),
        "tasks are running when the worker is stopped:\n{}",
        containers.logs(&worker)
    );
    let stopping = Instant::now();
    stop(&worker, 0);
    let log = containers.logs(&worker);
    assert!(
        running_tasks(&log).is_empty(),
        "tasks left unfinished: {:?}\n{log}",
        running_tasks(&log)
    );
    assert!(log.contains("worker stopped"), "{log}");
    eprintln!(
        "worker drained {} task(s) in {:?}",
        running.len(),
        stopping.elapsed()
    );
    for task in &running {
        let url = format!("{base}/v1/tasks/{task}");
        let auth = bearer(&key);
        let (_, state) = http("GET", &url, None, &[("authorization", &auth)]).expect("task");
        assert_eq!(state["state"], "succeeded", "{state}");
    }
    stop(&beat, 0);
    stop(&api, 0);
}

#[test]
fn the_image_holds_no_local_secrets_file() {
    let Some(_engine) = engine() else { return };
    let project = project();
    for name in LOCAL_SECRETS {
        assert!(project.join(name).exists(), "{name} is in the build folder");
    }
    let image = image();

    // Every file of the image, from its exported file system.
    let container = docker_ok(&["create", image]);
    let container = container.trim();
    let export = Command::new("sh")
        .arg("-c")
        .arg(format!("docker export {container} | tar -t"))
        .output()
        .expect("docker export runs");
    docker_ok(&["rm", container]);
    assert!(export.status.success(), "{}", describe(&export));
    let files = String::from_utf8_lossy(&export.stdout).into_owned();
    let config: Vec<&str> = files
        .lines()
        .filter(|path| path.starts_with("app/config/"))
        .collect();
    assert!(
        config.contains(&"app/config/prod.yaml"),
        "the committed settings are there: {config:?}"
    );
    let leaked: Vec<&str> = files
        .lines()
        .filter(|path| {
            path.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with("my-"))
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "local secrets files in the image: {leaked:?}"
    );
    // Nor in a layer's history (a file copied, then deleted).
    let history = docker_ok(&["history", "--no-trunc", "--format", "{{.CreatedBy}}", image]);
    assert!(
        !history.contains(SECRET) && !history.contains("my-"),
        "{history}"
    );
}

/// The ids of the tasks a worker's JSON log shows started and not yet finished.
fn running_tasks(log: &str) -> Vec<String> {
    let mut running = Vec::new();
    for line in log.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        // JSON lines: the event's fields flattened, its spans listed.
        let message = event["message"].as_str().unwrap_or("");
        let Some(task) = find_key(&event, "task_id") else {
            continue;
        };
        match message {
            "task started" => running.push(task),
            "task succeeded" | "task failed" | "task failed, will retry" => {
                running.retain(|t| *t != task)
            }
            _ => {}
        }
    }
    running
}

/// The first value of `key` anywhere in `value` (span fields are nested).
fn find_key(value: &Value, key: &str) -> Option<String> {
    match value {
        Value::Object(map) => map
            .get(key)
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
            .or_else(|| map.values().find_map(|v| find_key(v, key))),
        Value::Array(items) => items.iter().find_map(|v| find_key(v, key)),
        _ => None,
    }
}

/// The resident memory of a container's process, now and at its peak, from /proc.
fn memory(name: &str) -> String {
    let pid = docker_ok(&["inspect", "--format", "{{.State.Pid}}", name]);
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", pid.trim())).unwrap_or_default();
    status
        .lines()
        .filter(|line| line.starts_with("VmRSS") || line.starts_with("VmHWM"))
        .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `docker stop`s `name` and checks its exit status.
fn stop(name: &str, status: i64) {
    docker_ok(&["stop", "--time", "60", name]);
    let code = docker_ok(&["inspect", "--format", "{{.State.ExitCode}}", name]);
    assert_eq!(
        code.trim(),
        status.to_string(),
        "{name}'s exit status:\n{}",
        docker_logs(name)
    );
}

// ---------------------------------------------------------------------------------------
// compose.yaml

#[test]
fn compose_brings_the_stack_up_and_down() {
    let Some(_engine) = engine() else { return };
    let Some(compose) = compose() else { return };
    image();
    let project = project();
    let name = format!("deploy{}", std::process::id());
    let ports = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    // compose.yaml as it is but for its published ports, which a container on the host's
    // network cannot have (compose refuses them), and the override below. Both beside
    // compose.yaml, so that its relative paths hold.
    let original = read(&project.join("compose.yaml"));
    let base = project.join("compose.no-ports.yaml");
    std::fs::write(&base, without_ports(&original)).expect("write compose.no-ports.yaml");
    let overrides = project.join("compose.host-network.yaml");
    std::fs::write(&overrides, host_network_overrides(ports)).expect("write the override");
    let stack = Compose {
        command: compose,
        project: project.to_owned(),
        name,
        files: vec![base, overrides],
    };
    let up = stack.run(&["up", "--detach", "--no-build"]);
    assert!(up.status.success(), "compose up:\n{}", describe(&up));

    // Migrations ran once, then the roles came up healthy.
    let migrate = stack.containers("migrate");
    assert_eq!(migrate.len(), 1, "one migration container: {migrate:?}");
    wait_for(
        "the migration",
        Duration::from_secs(60),
        || docker_ok(&["inspect", "--format", "{{.State.Status}}", &migrate[0]]).trim() == "exited",
        || docker_logs(&migrate[0]),
    );
    assert_eq!(
        docker_ok(&["inspect", "--format", "{{.State.ExitCode}}", &migrate[0]]).trim(),
        "0",
        "{}",
        docker_logs(&migrate[0])
    );
    for service in ["api", "worker", "beat"] {
        let container = stack.containers(service);
        assert_eq!(container.len(), 1, "{service}: {container:?}");
        wait_for(
            &format!("{service} healthy"),
            Duration::from_secs(90),
            || {
                docker(&[
                    "inspect",
                    "--format",
                    "{{.State.Health.Status}}",
                    &container[0],
                ])
                .stdout
                .starts_with(b"healthy")
            },
            || docker_logs(&container[0]),
        );
    }
    let log = docker_logs(&migrate[0]);
    assert!(log.contains("Applying migration"), "{log}");
    let logs: String = ["api", "worker", "beat"]
        .iter()
        .map(|s| docker_logs(&stack.containers(s)[0]))
        .collect();
    assert!(
        !logs.contains("Applying migration"),
        "only the migration container migrates:\n{logs}"
    );

    // A person and a birthday, end to end.
    let base = format!("http://127.0.0.1:{}", ports.2);
    // A key made in the running api container, with its config (`compose run` would link
    // the stack's services, which the host network of this test refuses).
    let api = stack.containers("api")[0].clone();
    let key = make_key(vec!["exec", &api, "entrypoint.sh", "main"]);
    let id = create_person(&base, &key, "Katherine Johnson", 41);
    let (status, task) = http(
        "POST",
        &format!("{base}/v1/persons/{id}/birthday"),
        None,
        &[("authorization", &bearer(&key))],
    )
    .expect("birthday");
    assert_eq!(status, 202, "{task}");
    let task = task["id"].as_str().expect("task id").to_owned();
    let worker = stack.containers("worker")[0].clone();
    let done = wait_for_task(&base, &key, &task, || docker_logs(&worker));
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(person(&base, &key, id)["age"], 42);

    let down = stack.run(&["down", "--volumes", "--remove-orphans"]);
    assert!(down.status.success(), "compose down:\n{}", describe(&down));
    let left = docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.name),
    ]);
    assert!(left.trim().is_empty(), "containers left: {left}");
    let volumes = docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        &format!("label=com.docker.compose.project={}", stack.name),
    ]);
    assert!(volumes.trim().is_empty(), "volumes left: {volumes}");
}

/// compose.yaml's stack on the host's network: the engine here has no bridge network, so
/// each server gets a free port of 127.0.0.1 and the service's URLs say so. The rest is
/// compose.yaml's own: images, migrations first, roles, health checks of worker and beat
/// (on their own metrics ports), the database volume.
fn host_network_overrides(
    (postgres, redis, api, worker, beat): (u16, u16, u16, u16, u16),
) -> String {
    let database = format!("postgres://app:app@127.0.0.1:{postgres}/app");
    let redis_url = format!("redis://127.0.0.1:{redis}/0");
    let environment = |extra: &str| {
        format!(
            "    environment:\n      APP__DATABASE__URL: {database}\n      APP__REDIS__URL: {redis_url}\n      \
             APP__SERVER__HOST: 127.0.0.1\n{extra}"
        )
    };
    let role = |name: &str, server: u16, metrics: Option<u16>| {
        let mut text = format!("  {name}:\n    network_mode: host\n");
        let mut extra = format!("      APP__SERVER__PORT: \"{server}\"\n");
        if let Some(port) = metrics {
            extra.push_str(&format!("      APP__METRICS__LISTEN: 127.0.0.1:{port}\n"));
            text.push_str(&format!(
                "    healthcheck:\n      test: [\"CMD\", \"{PACKAGE}\", \"health\", \"http://127.0.0.1:{port}/mon/ping\"]\n"
            ));
        }
        text.push_str(&environment(&extra));
        text
    };
    let unused = free_port();
    [
        "services:\n".to_owned(),
        format!(
            "  postgres:\n    network_mode: host\n    environment:\n      PGPORT: \"{postgres}\"\n    \
             command: [\"postgres\", \"-c\", \"listen_addresses=127.0.0.1\"]\n"
        ),
        format!(
            "  redis:\n    network_mode: host\n    command: [\"redis-server\", \"--port\", \"{redis}\", \"--bind\", \"127.0.0.1\"]\n    \
             healthcheck:\n      test: [\"CMD\", \"redis-cli\", \"-p\", \"{redis}\", \"ping\"]\n"
        ),
        format!("  migrate:\n    network_mode: host\n{}", environment("")),
        role("api", api, None),
        role("worker", unused, Some(worker)),
        role("beat", unused, Some(beat)),
    ]
    .concat()
}

/// `compose` without its `ports:` lists.
fn without_ports(compose: &str) -> String {
    let mut kept = Vec::new();
    let mut dropping: Option<usize> = None;
    for line in compose.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some(key) = dropping {
            if indent > key || line.trim_start().starts_with("- ") && indent >= key {
                continue;
            }
            dropping = None;
        }
        if line.trim() == "ports:" {
            dropping = Some(indent);
            continue;
        }
        kept.push(line);
    }
    let text = kept.join("\n") + "\n";
    assert!(text.len() < compose.len(), "compose.yaml publishes ports");
    text
}

/// A compose project, taken down with its volumes when dropped.
struct Compose {
    command: Vec<String>,
    project: PathBuf,
    name: String,
    files: Vec<PathBuf>,
}

impl Compose {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.command[0])
            .args(&self.command[1..])
            .arg("--project-name")
            .arg(&self.name)
            .args(
                self.files
                    .iter()
                    .flat_map(|file| [Path::new("--file"), file]),
            )
            .args(args)
            .current_dir(&self.project)
            .output()
            .expect("compose runs")
    }

    /// The ids of the containers of `service`.
    fn containers(&self, service: &str) -> Vec<String> {
        docker_ok(&[
            "ps",
            "-aq",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--filter",
            &format!("label=com.docker.compose.service={service}"),
        ])
        .split_whitespace()
        .map(str::to_owned)
        .collect()
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self.run(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
    }
}

/// `docker compose` (v2) when the client has it, else Debian's `docker-compose`.
fn compose() -> Option<Vec<String>> {
    if docker(&["compose", "version"]).status.success() {
        return Some(vec!["docker".into(), "compose".into()]);
    }
    tool("docker-compose", "the compose stack").map(|path| vec![path.display().to_string()])
}

// ---------------------------------------------------------------------------------------
// The functional tests' testcontainers path

#[test]
fn functional_tests_run_on_testcontainers() {
    let Some(_engine) = engine() else { return };
    let project = project();
    // bollard asks for API 1.52: .ci/docker's proxy serves it for an older engine.
    let host = std::env::var("TEST_TESTCONTAINERS_DOCKER_HOST")
        .or_else(|_| std::env::var("DOCKER_HOST"))
        .unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let before = testcontainers();
    // A few of the tests: the persons API on PostgreSQL, and one queue test on Redis.
    let mut command = cargo();
    command
        .args([
            "test",
            "--locked",
            "--test",
            "api",
            "--",
            "persons::",
            "persons_by_hand::",
            "a_task_scheduled_over_the_api_is_run_by_a_worker",
        ])
        .current_dir(project)
        .env_remove("TEST_DATABASE_URL")
        .env_remove("TEST_REDIS_URL")
        .env("CI", "true")
        .env("DOCKER_HOST", &host);
    let output = builds_in_shared_target(project, &mut command);
    let started: Vec<String> = testcontainers()
        .into_iter()
        .filter(|id| !before.contains(id))
        .collect();
    let _started = Containers(started.clone());
    assert!(
        output.status.success(),
        "the functional tests on testcontainers:\n{}",
        describe(&output)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let passed = count_after(&stdout, "test result: ok. ");
    assert!(passed >= 10, "{passed} tests ran:\n{stdout}");
    let images: Vec<String> = started
        .iter()
        .map(|id| {
            docker_ok(&["inspect", "--format", "{{.Config.Image}}", id])
                .trim()
                .to_owned()
        })
        .collect();
    for variable in ["TEST_POSTGRES_IMAGE", "TEST_REDIS_IMAGE"] {
        let image = std::env::var(variable).unwrap_or_default();
        assert!(
            image.is_empty() || images.contains(&image),
            "a container of {variable}={image}: {images:?}"
        );
    }
    assert_eq!(
        started.len(),
        2,
        "one PostgreSQL and one Redis container: {images:?}"
    );
    eprintln!("testcontainers: {passed} tests on {images:?}");
}

/// The containers testcontainers made, running or not.
fn testcontainers() -> Vec<String> {
    docker_ok(&[
        "ps",
        "-aq",
        "--filter",
        "label=org.testcontainers.managed-by=testcontainers",
    ])
    .split_whitespace()
    .map(str::to_owned)
    .collect()
}

// ---------------------------------------------------------------------------------------
// Shared: the render, the engine, the image, containers, HTTP

/// The acme-billing render, made once per run below the shared target folder.
fn project() -> &'static Path {
    static PROJECT: OnceLock<PathBuf> = OnceLock::new();
    PROJECT.get_or_init(|| {
        let into = shared_target_dir().join("deploy");
        let _ = std::fs::remove_dir_all(&into);
        std::fs::create_dir_all(&into).expect("create the render folder");
        let values = repo_root().join("examples/acme-billing.toml");
        let output = render(PACKAGE, &into, Some(&values));
        assert!(output.status.success(), "render:\n{}", describe(&output));
        let project = into.join(PACKAGE);
        // Local secrets files, as the README tells a team to keep them: the image built
        // from this folder must hold neither.
        for name in LOCAL_SECRETS {
            std::fs::write(
                project.join(name),
                format!("database:\n  url: postgres://app:{SECRET}@db/app\n"),
            )
            .expect("write a local secrets file");
        }
        project
    })
}

/// Files matching the README's local-secrets pattern (`config/my-*`), put in the render.
const LOCAL_SECRETS: [&str; 2] = ["config/my-prod.yaml", "config/my-staging.yml"];
/// The password they hold.
const SECRET: &str = "local-secret-8c1f";

/// Whether an engine answers; one test at a time uses it (the machine has 2 cores). Says
/// so when it does not, and fails under `CI`.
fn engine() -> Option<std::sync::MutexGuard<'static, ()>> {
    static ENGINE: Mutex<()> = Mutex::new(());
    let answers = docker(&["info", "--format", "{{.ServerVersion}}"])
        .status
        .success();
    if !answers {
        let message = "no Docker engine answers (eval \"$(.ci/docker)\" starts one): the deployment test is SKIPPED";
        assert!(std::env::var_os("CI").is_none(), "{message} (CI is set)");
        eprintln!("*** {message}");
        return None;
    }
    Some(
        ENGINE
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}

/// The render's image, built once per run (BuildKit, the host's network for the build).
fn image() -> &'static str {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let started = Instant::now();
        let output = Command::new("docker")
            .args([
                "build",
                "--network",
                "host",
                "--tag",
                IMAGE,
                "--tag",
                &format!("{PACKAGE}:dev"),
            ])
            .arg(project())
            .env("DOCKER_BUILDKIT", "1")
            .output()
            .expect("docker build runs");
        assert!(
            output.status.success(),
            "docker build:\n{}",
            describe(&output)
        );
        let size = docker_ok(&["image", "inspect", "--format", "{{.Size}}", IMAGE]);
        let size: u64 = size.trim().parse().unwrap_or(0);
        eprintln!(
            "image {IMAGE}: built in {:?}, {} MB",
            started.elapsed(),
            size / 1_000_000
        );
    });
    IMAGE
}

/// PostgreSQL and Redis containers (compose.yaml's images) on free ports of 127.0.0.1.
struct Servers {
    postgres: u16,
    redis: u16,
}

impl Servers {
    fn start(containers: &mut Containers) -> Self {
        let (postgres, redis) = (free_port(), free_port());
        let postgres_image =
            std::env::var("TEST_POSTGRES_IMAGE").unwrap_or_else(|_| "postgres:15".into());
        let redis_image = std::env::var("TEST_REDIS_IMAGE").unwrap_or_else(|_| "redis:7".into());
        let pg = containers.run(
            "postgres",
            &[
                "-e",
                "POSTGRES_USER=app",
                "-e",
                "POSTGRES_PASSWORD=app",
                "-e",
                "POSTGRES_DB=app",
                "-e",
                &format!("PGPORT={postgres}"),
            ],
            &postgres_image,
            &["postgres", "-c", "listen_addresses=127.0.0.1"],
        );
        let port = redis.to_string();
        let rd = containers.run(
            "redis",
            &[],
            &redis_image,
            &["redis-server", "--port", &port, "--bind", "127.0.0.1"],
        );
        let address = format!("--port={postgres}");
        wait_for(
            "PostgreSQL",
            Duration::from_secs(60),
            || {
                docker(&[
                    "exec",
                    &pg,
                    "pg_isready",
                    "--host=127.0.0.1",
                    &address,
                    "--username=app",
                    "--dbname=app",
                ])
                .status
                .success()
            },
            || docker_logs(&pg),
        );
        wait_for(
            "Redis",
            Duration::from_secs(30),
            || {
                docker(&["exec", &rd, "redis-cli", "-p", &port, "ping"])
                    .stdout
                    .starts_with(b"PONG")
            },
            || docker_logs(&rd),
        );
        Self { postgres, redis }
    }

    /// The service's config, for APP_CONFIG_YAML: these servers, the API's port and the
    /// metrics port (only one process listens on each), and `extra` YAML.
    fn config(&self, server_port: u16, metrics: u16, extra: &str) -> String {
        format!(
            "server:\n  host: 127.0.0.1\n  port: {server_port}\ndatabase:\n  url: postgres://app:app@127.0.0.1:{}/app\n\
             redis:\n  url: redis://127.0.0.1:{}/0\nmetrics:\n  listen: 127.0.0.1:{metrics}\n{extra}",
            self.postgres, self.redis
        )
    }
}

/// `-e APP_CONFIG_YAML_B64=...` for `yaml`.
fn config_b64(yaml: &str) -> String {
    format!("APP_CONFIG_YAML_B64={}", base64(yaml.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Containers of one test (run by it, or started for it by testcontainers), removed when
/// dropped.
#[derive(Default)]
struct Containers(Vec<String>);

impl Containers {
    /// `docker run -d` on the host's network; gives the container's name.
    fn run(&mut self, role: &str, options: &[&str], image: &str, args: &[&str]) -> String {
        let name = format!("deploy-{}-{role}", std::process::id());
        let _ = docker(&["rm", "-f", &name]);
        self.0.push(name.clone());
        let mut command = vec!["run", "--detach", "--name", &name, "--network", "host"];
        command.extend_from_slice(options);
        command.push(image);
        command.extend_from_slice(args);
        docker_ok(&command);
        name
    }

    fn logs(&self, name: &str) -> String {
        docker_logs(name)
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(self.0.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
}

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the docker client runs")
}

fn docker_ok(args: &[&str]) -> String {
    let output = docker(args);
    assert!(
        output.status.success(),
        "docker {}:\n{}",
        args.join(" "),
        describe(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A container's stdout and stderr.
fn docker_logs(name: &str) -> String {
    let output = docker(&["logs", name]);
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Polls `done` until it holds, else fails with `what` and `context()`.
fn wait_for(
    what: &str,
    patience: Duration,
    mut done: impl FnMut() -> bool,
    context: impl FnOnce() -> String,
) {
    let start = Instant::now();
    while start.elapsed() < patience {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what}: not within {patience:?}\n{}", context());
}

/// The task `id` once it has finished (succeeded or failed).
fn wait_for_task(base: &str, key: &str, id: &str, context: impl FnOnce() -> String) -> Value {
    let mut last = Value::Null;
    wait_for(
        "the task to finish",
        Duration::from_secs(60),
        || {
            let url = format!("{base}/v1/tasks/{id}");
            if let Ok((200, task)) = http(
                "GET",
                &url,
                None,
                &[("authorization", bearer(key).as_str())],
            ) {
                last = task;
            }
            matches!(last["state"].as_str(), Some("succeeded" | "failed"))
        },
        context,
    );
    last
}

fn create_person(base: &str, key: &str, name: &str, age: i64) -> i64 {
    let (status, person) = http(
        "POST",
        &format!("{base}/v1/persons"),
        Some(&json!({"name": name, "age": age})),
        &[("authorization", bearer(key).as_str())],
    )
    .expect("create a person");
    assert_eq!(status, 201, "{person}");
    person["id"].as_i64().expect("the person's id")
}

fn person(base: &str, key: &str, id: i64) -> Value {
    let url = format!("{base}/v1/persons/{id}");
    let (status, person) = http(
        "GET",
        &url,
        None,
        &[("authorization", bearer(key).as_str())],
    )
    .expect("get the person");
    assert_eq!(status, 200, "{person}");
    person
}

/// `Authorization: Bearer` with API key `key`.
fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// The key printed by `keys create` run as `command` (a container's), with what the
/// calls below need.
fn make_key(mut command: Vec<&str>) -> String {
    command.extend([
        "keys",
        "create",
        "--name",
        "deploy",
        "--scope",
        "persons:read",
        "--scope",
        "persons:write",
        "--scope",
        "tasks:read",
    ]);
    let key = docker_ok(&command).trim().to_owned();
    assert!(key.starts_with("sk_"), "keys create printed a key: {key:?}");
    key
}

/// One HTTP/1.0 request to 127.0.0.1: the status and the body as JSON (null if not JSON).
fn http(
    method: &str,
    url: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> std::io::Result<(u16, Value)> {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (address, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .unwrap_or("");
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// A port of 127.0.0.1 that nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// `name` on the PATH, or `None` after saying the check is skipped (failing under `CI`).
fn tool(name: &str, check: &str) -> Option<PathBuf> {
    let found = on_path(name);
    if found.is_none() {
        let message =
            format!("no `{name}` on the PATH (see .ci/tools, .ci/docker): {check} SKIPPED");
        assert!(std::env::var_os("CI").is_none(), "{message} (CI is set)");
        eprintln!("*** {message}");
    }
    found
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The number after the first `marker` in `text` (0 if none).
fn count_after(text: &str, marker: &str) -> u64 {
    text.split(marker)
        .nth(1)
        .map(|rest| {
            rest.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .and_then(|digits| digits.parse().ok())
        .unwrap_or(0)
}

fn copy_dir(from: &Path, to: &Path) {
    for file in starter_tests::files(from) {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
        std::fs::copy(from.join(&file), target).expect("copy");
    }
}
