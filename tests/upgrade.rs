//! The update story, in scratch folders: a git copy of the starter released as `v0.1.0`, a
//! project started from it with `new-project` and edited by its team, a `v0.2.0` release,
//! then `cargo xtask starter update` in the project. Also: release tags name the version
//! the starter's files say.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use starter_tests::{
    SKELETON, cargo_in, describe, files, liquefy, on_path, repo_root, shared_target_dir,
};

/// The project's name in the story.
const NAME: &str = "acme-ledger";

/// A command run in `dir` the way the story's people run it: the shared target folder, and
/// a git identity of its own (nothing from the machine's git configuration).
fn command(program: impl AsRef<std::ffi::OsStr>, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Starter Tests")
        .env("GIT_AUTHOR_EMAIL", "tests@example.com")
        .env("GIT_COMMITTER_NAME", "Starter Tests")
        .env("GIT_COMMITTER_EMAIL", "tests@example.com");
    command
}

fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("{:?}: {e}", command.get_program()))
}

/// Runs `git args...` in `dir`; its standard output. Panics when git fails.
fn git(dir: &Path, args: &[&str]) -> String {
    let done = output(command("git", dir).args(args));
    assert!(
        done.status.success(),
        "git {} in {}:\n{}",
        args.join(" "),
        dir.display(),
        describe(&done)
    );
    String::from_utf8_lossy(&done.stdout).trim().to_owned()
}

/// `cargo xtask args...` in the project.
fn xtask(project: &Path, args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    output(command(cargo, project).arg("xtask").args(args))
}

/// `cargo xtask starter update args...` in the project.
fn update(project: &Path, args: &[&str]) -> Output {
    xtask(project, &[&["starter", "update"], args].concat())
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Replaces the one `old` of `dir/file` with `new`.
fn edit(dir: &Path, file: &str, old: &str, new: &str) {
    let text = read(dir, file);
    assert_eq!(text.matches(old).count(), 1, "{file} has {old:?} once");
    std::fs::write(dir.join(file), text.replacen(old, new, 1)).expect("write");
}

/// Every file of `dir` but `.git/` and `target/`, with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files(dir)
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(dir.join(&path)).expect("read");
            (path, bytes)
        })
        .collect()
}

/// The versions of package `name` in a lock file.
fn locked(lock: &str, name: &str) -> Vec<String> {
    let header = format!("name = \"{name}\"\nversion = \"");
    lock.match_indices(&header)
        .map(|(at, _)| {
            let rest = &lock[at + header.len()..];
            rest[..rest.find('"').expect("closing quote")].to_owned()
        })
        .collect()
}

/// Settles `dir`'s lock on its manifests, as a developer's next build would, changing the
/// version of nothing the manifests do not ask to (offline first: the crates are cached).
fn settle_lock(dir: &Path) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let offline = output(command(&cargo, dir).args(["update", "--workspace", "--offline"]));
    if !offline.status.success() {
        cargo_in(dir, &["update", "--workspace"]);
    }
}

/// What is wrong with the release tags of the starter repository `repo`: each `vX.Y.Z`
/// must name the version its commit's `tests/Cargo.toml` says.
fn release_problems(repo: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for tag in git(repo, &["tag", "--list", "v*"]).lines() {
        let Some(version) = tag.strip_prefix('v') else {
            continue;
        };
        let parts: Vec<&str> = version.split('.').collect();
        let release = parts.len() == 3
            && parts
                .iter()
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        if !release {
            continue;
        }
        let manifest = git(repo, &["show", &format!("{tag}:tests/Cargo.toml")]);
        let answers = git(
            repo,
            &[
                "show",
                &format!("{tag}:template/.starter/answers.toml.liquid"),
            ],
        );
        let says = format!("\nversion = \"{version}\"\n");
        if !format!("\n{manifest}\n").contains(&says) {
            problems.push(format!(
                "{tag}: tests/Cargo.toml does not say version {version}"
            ));
        }
        if !format!("\n{answers}\n").contains(&says) {
            problems.push(format!(
                "{tag}: template/.starter/answers.toml.liquid does not say version {version}"
            ));
        }
    }
    problems
}

#[test]
fn release_tags_name_the_version_in_the_files() {
    let root = repo_root();
    if !root.join(".git").exists() {
        let message = "the starter is not a git checkout: release tags not checked";
        assert!(std::env::var_os("CI").is_none(), "{message} (CI is set)");
        eprintln!("*** {message} SKIPPED");
        return;
    }
    let problems = release_problems(&root);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Copies the starter's files (not `.git`, not `target/`) into `into`.
fn copy_starter(into: &Path) {
    let root = repo_root();
    // In a git worktree `.git` is a file naming the repository: never copy it.
    let git = |path: &PathBuf| path.components().any(|part| part.as_os_str() == ".git");
    for path in files(&root).into_iter().filter(|path| !git(path)) {
        let to = into.join(&path);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(root.join(&path), &to).expect("copy");
    }
}

/// Moves the starter's version from `from` to `to` in the two files that say it.
fn set_version(starter: &Path, from: &str, to: &str) {
    let line = |version: &str| format!("\nversion = \"{version}\"\n");
    for file in ["tests/Cargo.toml", "template/.starter/answers.toml.liquid"] {
        edit(starter, file, &line(from), &line(to));
    }
}

/// The files that say the template's dependencies.
const MANIFESTS: [&str; 4] = [
    "Cargo.toml",
    "Cargo.toml.liquid",
    "Cargo.lock",
    "Cargo.lock.liquid",
];

/// The regex the first release locks, one release behind the template's.
const OLD_REGEX: &str = "1.12.4";

/// Puts the template's dependencies one step back, as a starter developer would have had
/// them: base64 0.22 in `Cargo.toml` (and its twin), regex locked at an older release; then
/// derives the lock's twin.
fn older_dependencies(starter: &Path) {
    let template = starter.join("template");
    for manifest in ["Cargo.toml", "Cargo.toml.liquid"] {
        edit(
            &template,
            manifest,
            "base64 = \"0.23\"",
            "base64 = \"0.22\"",
        );
    }
    settle_lock(&template);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let args = ["update", "--package", "regex", "--precise", OLD_REGEX];
    let offline = output(command(&cargo, &template).args(args).arg("--offline"));
    if !offline.status.success() {
        cargo_in(&template, &args);
    }
    let lock = read(&template, "Cargo.lock");
    std::fs::write(
        template.join("Cargo.lock.liquid"),
        liquefy(Path::new("Cargo.lock"), &lock),
    )
    .expect("lock twin");
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", message]);
}

/// The starter as its first release: its files today, with older dependencies so that the
/// second release has some to bump.
fn first_release(starter: &Path) {
    copy_starter(starter);
    set_version(starter, env!("CARGO_PKG_VERSION"), "0.1.0");
    older_dependencies(starter);
    git(starter, &["init", "--quiet"]);
    // A repository of its own, not the one the starter is checked out from.
    assert_eq!(git(starter, &["rev-parse", "--git-dir"]), ".git");
    commit_all(starter, "The starter");
    git(starter, &["tag", "v0.1.0"]);
}

/// The second release: edits in a file the team also edits (in another place, and in the
/// same place), a config comment, the README, a new file, two files removed, and the
/// dependencies as the template has them today (base64 0.23 in `Cargo.toml`, a newer regex
/// in the lock).
fn second_release(starter: &Path) {
    let template = starter.join("template");
    let persons = "src/api/v1/persons.rs";
    edit(
        &template,
        persons,
        "//! `/v1/persons`: JSON in, controller call, JSON out.",
        "//! `/v1/persons`: parse the request, call the controller, format the answer.",
    );
    edit(
        &template,
        persons,
        "/// Delete a person\n",
        "/// Delete a person, or answer 404 when there is no such person\n",
    );
    edit(
        &template,
        "config/default.yaml",
        "  # A request still running after this many seconds gets a 408.",
        "  # A request still running after this many seconds gets a 408 (Request Timeout).",
    );
    for readme in ["README.md", "README.md.liquid"] {
        let text = read(&template, readme);
        std::fs::write(
            template.join(readme),
            format!("{text}\nRelease notes live in the starter's repository.\n"),
        )
        .expect("readme");
    }
    std::fs::create_dir_all(template.join("deploy")).expect("mkdir");
    std::fs::write(
        template.join("deploy/RUNBOOK.md"),
        "# Runbook\n\nWhat to do when the service does not answer.\n",
    )
    .expect("runbook");
    for gone in [".dockerignore", "benches/http.sh", "benches/http.sh.liquid"] {
        std::fs::remove_file(template.join(gone)).expect("remove");
    }
    edit(
        starter,
        "cargo-generate.toml",
        "    \"benches/http.sh\",\n",
        "",
    );
    for manifest in MANIFESTS {
        let today = repo_root().join("template").join(manifest);
        std::fs::copy(today, template.join(manifest)).expect("manifest");
    }
    set_version(starter, "0.1.0", "0.2.0");
    commit_all(starter, "Release 0.2.0");
    git(starter, &["tag", "v0.2.0"]);
}

/// The team's work on its project: a resource from the generators (when the starter has
/// them: `cargo xtask new`), a dependency, a handler, a config value, a script. Returns
/// whether a resource was generated.
fn team_edits(project: &Path) -> bool {
    let generator = [
        "new",
        "resource",
        "invoice",
        "number:string",
        "amount_cents:i64",
    ];
    let generated = xtask(project, &generator);
    let resource = generated.status.success();
    if !resource {
        let said = String::from_utf8_lossy(&generated.stderr);
        assert!(
            said.contains("unrecognized subcommand 'new'"),
            "cargo xtask {}:\n{}",
            generator.join(" "),
            describe(&generated)
        );
        eprintln!("*** the starter has no generators (`cargo xtask new`): no resource generated");
    }
    edit(
        project,
        "Cargo.toml",
        "yaml_serde = \"0.10\"\n",
        "yaml_serde = \"0.10\"\nitoa = \"1\"\n",
    );
    settle_lock(project);
    let persons = "src/api/v1/persons.rs";
    edit(
        project,
        persons,
        "//! `/v1/persons`: JSON in, controller call, JSON out.",
        "//! `/v1/persons`: the people the ledger bills, JSON in and out.",
    );
    edit(
        project,
        persons,
        "    let person = controller::get(&state.db, id).await?;\n",
        "    let person = controller::get(&state.db, id).await?;\n    \
         tracing::debug!(person = id, \"read\");\n",
    );
    edit(
        project,
        "config/default.yaml",
        "  max_connections: 10\n",
        "  max_connections: 12\n",
    );
    let script = read(project, "benches/http.sh");
    std::fs::write(
        project.join("benches/http.sh"),
        format!("{script}# Our staging numbers are in the wiki.\n"),
    )
    .expect("script");
    commit_all(project, "Team edits");
    resource
}

/// Asserts that `update` refused and that `project` is as `before`.
fn assert_refused_and_unchanged(
    project: &Path,
    before: &BTreeMap<PathBuf, Vec<u8>>,
    args: &[&str],
) {
    let refused = update(project, args);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("uncommitted changes"), "{said}");
    assert!(said.contains("Nothing was changed"), "{said}");
    assert!(
        &snapshot(project) == before,
        "a refused update changed files"
    );
}

#[test]
fn a_project_takes_in_a_later_release_by_a_three_way_merge() {
    let scratch = tempfile::tempdir().expect("temp dir");
    let starter = scratch.path().join("starter");
    first_release(&starter);
    assert!(release_problems(&starter).is_empty());

    // A new project: rendered, recorded, a repository with its first commit.
    let made = output(
        command(starter.join("new-project"), scratch.path())
            .args([NAME, "--destination"])
            .arg(scratch.path())
            .arg("--silent"),
    );
    assert!(made.status.success(), "new-project:\n{}", describe(&made));
    let project = scratch.path().join(NAME);
    assert_eq!(
        git(&project, &["log", "--format=%s"]),
        "New project from the Rust service starter v0.1.0"
    );
    assert_eq!(git(&project, &["status", "--porcelain"]), "");
    let answers = read(&project, ".starter/answers.toml");
    let source = std::fs::canonicalize(&starter).expect("starter path");
    for line in [
        format!("source = \"{}\"", source.display()),
        "revision = \"v0.1.0\"".to_owned(),
        "version = \"0.1.0\"".to_owned(),
    ] {
        assert!(answers.contains(&line), "{line} in:\n{answers}");
    }
    if let Some(shellcheck) = on_path("shellcheck") {
        let linted = output(Command::new(shellcheck).arg(starter.join("new-project")));
        assert!(
            linted.status.success(),
            "shellcheck new-project:\n{}",
            describe(&linted)
        );
    } else {
        let message = "no `shellcheck` on the PATH (see .ci/tools): new-project's lint";
        assert!(std::env::var_os("CI").is_none(), "{message} (CI is set)");
        eprintln!("*** {message} SKIPPED");
    }

    // The first release is the newest: nothing to do.
    let noop = update(&project, &[]);
    assert!(noop.status.success(), "{}", describe(&noop));
    assert!(
        stdout(&noop).contains("Already up to date"),
        "{}",
        describe(&noop)
    );
    assert_eq!(git(&project, &["status", "--porcelain"]), "");

    let resource = team_edits(&project);
    let team_lock = read(&project, "Cargo.lock");
    let team_itoa = locked(&team_lock, "itoa");
    assert_eq!(team_itoa.len(), 1, "one itoa: {team_itoa:?}");
    assert_eq!(locked(&team_lock, "regex"), [OLD_REGEX]);
    second_release(&starter);
    assert!(release_problems(&starter).is_empty());

    // A dirty work tree is refused, and nothing changes.
    std::fs::write(project.join("notes.txt"), "not committed\n").expect("write");
    assert_refused_and_unchanged(&project, &snapshot(&project), &[]);
    std::fs::remove_file(project.join("notes.txt")).expect("remove");
    let config = read(&project, "config/default.yaml");
    std::fs::write(
        project.join("config/default.yaml"),
        format!("{config}# wip\n"),
    )
    .expect("write");
    assert_refused_and_unchanged(&project, &snapshot(&project), &["--dry-run"]);
    git(&project, &["checkout", "--", "config/default.yaml"]);

    // A dry run prints the summary and the diff, and writes nothing.
    let before = snapshot(&project);
    let dry = update(&project, &["--dry-run"]);
    assert!(dry.status.success(), "{}", describe(&dry));
    let said = stdout(&dry);
    for expected in [
        "Updating from the starter's v0.1.0 to v0.2.0",
        "conflicting  src/api/v1/persons.rs",
        "diff --git a/deploy/RUNBOOK.md b/deploy/RUNBOOK.md",
        "+<<<<<<< this project",
        "-  # A request still running after this many seconds gets a 408.",
        "Dry run: nothing was written",
    ] {
        assert!(said.contains(expected), "{expected:?} in:\n{said}");
    }
    assert!(snapshot(&project) == before, "a dry run changed files");
    assert_eq!(git(&project, &["status", "--porcelain"]), "");

    // The update: every change that does not collide is in, the collision is marked.
    let updated = update(&project, &[]);
    assert_eq!(updated.status.code(), Some(1), "{}", describe(&updated));
    let said = stdout(&updated);
    for expected in [
        "taken        .starter/answers.toml",
        "taken        README.md",
        "merged       Cargo.toml",
        "merged       config/default.yaml",
        "conflicting  src/api/v1/persons.rs",
        "added        deploy/RUNBOOK.md",
        "removed      .dockerignore",
        "kept         benches/http.sh",
        "2 taken, 2 merged, 1 conflicting, 1 added, 1 removed, 1 kept",
        "Cargo.lock",
        "Conflicts are left",
    ] {
        assert!(said.contains(expected), "{expected:?} in:\n{said}");
    }
    let persons = read(&project, "src/api/v1/persons.rs");
    assert!(
        persons.starts_with(
            "<<<<<<< this project\n\
             //! `/v1/persons`: the people the ledger bills, JSON in and out.\n\
             =======\n\
             //! `/v1/persons`: parse the request, call the controller, format the answer.\n\
             >>>>>>> starter v0.2.0\n"
        ),
        "{persons}"
    );
    assert_eq!(persons.matches("<<<<<<<").count(), 1, "{persons}");
    assert!(persons.contains("tracing::debug!(person = id, \"read\");"));
    assert!(persons.contains("/// Delete a person, or answer 404 when there is no such person\n"));
    let config = read(&project, "config/default.yaml");
    assert!(config.contains("  max_connections: 12\n"));
    assert!(config.contains("gets a 408 (Request Timeout)."));
    let manifest = read(&project, "Cargo.toml");
    assert!(manifest.contains("itoa = \"1\"\n") && manifest.contains("base64 = \"0.23\""));
    // The lock: the team's itoa as it was, the starter's regex, base64 0.23 for the service.
    let lock = read(&project, "Cargo.lock");
    let theirs = read(&starter, "template/Cargo.lock");
    assert_eq!(locked(&lock, "itoa"), team_itoa, "the team's version stays");
    let new_regex = locked(&theirs, "regex");
    assert_eq!(locked(&lock, "regex"), new_regex);
    assert!(
        said.contains(&format!("regex {OLD_REGEX} -> {}", new_regex[0])),
        "{said}"
    );
    let base64_of = |lock: &str, package: &str| {
        let block = lock
            .split("[[package]]")
            .find(|block| block.starts_with(&format!("\nname = \"{package}\"\n")))
            .unwrap_or_else(|| panic!("{package} in the lock"))
            .to_owned();
        block
            .lines()
            .find(|line| line.contains("\"base64"))
            .map(str::to_owned)
    };
    assert_eq!(base64_of(&lock, NAME), base64_of(&theirs, SKELETON));
    assert!(
        read(&project, "README.md").contains("Release notes live in the starter's repository.")
    );
    assert!(project.join("deploy/RUNBOOK.md").is_file());
    assert!(!project.join(".dockerignore").exists());
    assert!(read(&project, "benches/http.sh").contains("Our staging numbers"));
    if resource {
        // The generated resource is the team's: the update leaves it alone.
        assert!(project.join("tests/api/invoices.rs").is_file());
        assert!(!said.contains("invoices"), "{said}");
    }
    let answers = read(&project, ".starter/answers.toml");
    assert!(answers.contains("revision = \"v0.2.0\"") && answers.contains("version = \"0.2.0\""));

    // The team resolves the conflict, commits, and the project passes its own checks.
    edit(
        &project,
        "src/api/v1/persons.rs",
        "<<<<<<< this project\n\
         //! `/v1/persons`: the people the ledger bills, JSON in and out.\n\
         =======\n\
         //! `/v1/persons`: parse the request, call the controller, format the answer.\n\
         >>>>>>> starter v0.2.0\n",
        "//! `/v1/persons`: the people the ledger bills: parse, call the controller, answer.\n",
    );
    commit_all(&project, "Starter v0.2.0");
    cargo_in(&project, &["fmt", "--check"]);
    cargo_in(
        &project,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    );
    // The service's tests, as the project's CI runs them (xtask's own tests describe a
    // fresh render, and this project has grown).
    cargo_in(&project, &["test", "--locked"]);
    assert_eq!(git(&project, &["status", "--porcelain"]), "");

    // Up to date now: a no-op that says so.
    let before = snapshot(&project);
    let again = update(&project, &[]);
    assert!(again.status.success(), "{}", describe(&again));
    assert!(
        stdout(&again).contains("Already up to date: this project is at the starter's v0.2.0"),
        "{}",
        describe(&again)
    );
    assert!(
        snapshot(&project) == before,
        "an up-to-date update changed files"
    );

    // The release check catches a tag that names another version.
    git(&starter, &["tag", "v0.3.0"]);
    assert_eq!(release_problems(&starter).len(), 2);
}
