//! The update story, in scratch folders: a git copy of the starter released as `v0.1.0`, a
//! project started from it with `new-project` and edited by its team, then three releases
//! (dependencies bumped; a file moved; a new table), each checked with `cargo xtask starter
//! check`, taken in with `cargo xtask starter update`, its planned conflicts resolved and
//! the project's own checks run; and a project that skipped them taking all three at once.
//! Also: release tags name the version the starter's files say, and have release notes.
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

/// `cargo xtask starter check args...` in the project.
fn check(project: &Path, args: &[&str]) -> Output {
    xtask(project, &[&["starter", "check"], args].concat())
}

/// Asserts that `said` has each of `expected`.
fn assert_says(said: &str, expected: &[&str]) {
    for line in expected {
        assert!(said.contains(line), "{line:?} in:\n{said}");
    }
}

/// Where a story's step began, to say what it cost.
struct Clock(std::time::Instant);

impl Clock {
    fn start() -> Self {
        Self(std::time::Instant::now())
    }

    /// Notes how long the step since the last lap took (on stderr: `--nocapture` shows it).
    fn lap(&mut self, step: &str) {
        eprintln!("upgrade story: {step} took {:.0?}", self.0.elapsed());
        self.0 = std::time::Instant::now();
    }
}

/// What is wrong with the release tags of the starter repository `repo`: each `vX.Y.Z`
/// must name the version its commit's `tests/Cargo.toml` says, and its `CHANGELOG.md` must
/// have its section.
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
        let changelog = output(command("git", repo).args(["show", &format!("{tag}:CHANGELOG.md")]));
        if !has_section(&String::from_utf8_lossy(&changelog.stdout), tag) {
            problems.push(format!("{tag}: CHANGELOG.md has no section `## {tag}`"));
        }
    }
    problems
}

/// Whether `changelog` has a section for release `tag` (`## v0.2.0`, perhaps followed by a
/// date).
fn has_section(changelog: &str, tag: &str) -> bool {
    changelog.lines().any(|line| {
        line.strip_prefix("## ")
            .and_then(|heading| heading.split_whitespace().next())
            .is_some_and(|name| name.trim_matches(['[', ']']) == tag)
    })
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

#[test]
fn the_changelog_has_a_section_for_the_starters_version() {
    let changelog =
        std::fs::read_to_string(repo_root().join("CHANGELOG.md")).expect("CHANGELOG.md");
    let tag = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert!(
        has_section(&changelog, &tag),
        "CHANGELOG.md has no section `## {tag}` (see \"Releasing\" in the README)"
    );
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

/// The first lines of the scratch starter's `CHANGELOG.md`, above its sections.
const CHANGELOG_HEAD: &str = "# Changelog\n\nThe starter's releases, newest first.\n";

/// Adds release `tag`'s section to the starter's `CHANGELOG.md`, above the others, as a
/// release does.
fn release_notes(starter: &Path, tag: &str, notes: &str) {
    let changelog = read(starter, "CHANGELOG.md");
    let at = changelog.find("\n## ").map_or(changelog.len(), |at| at + 1);
    let (head, sections) = changelog.split_at(at);
    std::fs::write(
        starter.join("CHANGELOG.md"),
        format!("{head}## {tag}\n\n{notes}\n{sections}"),
    )
    .expect("CHANGELOG.md");
}

/// Commits and tags release `version` of the starter.
fn release(starter: &Path, from: &str, version: &str, notes: &str) {
    set_version(starter, from, version);
    release_notes(starter, &format!("v{version}"), notes);
    commit_all(starter, &format!("Release {version}"));
    git(starter, &["tag", &format!("v{version}")]);
    assert!(
        release_problems(starter).is_empty(),
        "{:?}",
        release_problems(starter)
    );
}

fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "--all"]);
    git(dir, &["commit", "--quiet", "-m", message]);
}

/// The starter as its first release: its files today, with older dependencies so that the
/// second release has some to bump, and release notes of its own.
fn first_release(starter: &Path) {
    copy_starter(starter);
    set_version(starter, env!("CARGO_PKG_VERSION"), "0.1.0");
    older_dependencies(starter);
    std::fs::write(
        starter.join("CHANGELOG.md"),
        format!("{CHANGELOG_HEAD}\n## v0.1.0\n\nThe first release.\n"),
    )
    .expect("CHANGELOG.md");
    git(starter, &["init", "--quiet"]);
    // A repository of its own, not the one the starter is checked out from.
    assert_eq!(git(starter, &["rev-parse", "--git-dir"]), ".git");
    commit_all(starter, "The starter");
    git(starter, &["tag", "v0.1.0"]);
    assert!(release_problems(starter).is_empty());
}

/// The persons views, and where the third release moves them.
const PERSONS: &str = "src/api/v1/persons.rs";
const PERSONS_MOVED: &str = "src/api/v1/persons/mod.rs";

/// The persons views' first line in the first release, as the team changed it, as the
/// second release changed it, and as the team resolves the conflict.
const HEADER: &str = "//! `/v1/persons`: JSON in, controller call, JSON out (`cargo xtask new resource` wrote\n//! this file; it is yours to change).\n";
const TEAM_HEADER: &str = "//! `/v1/persons`: the people the ledger bills, JSON in and out.\n";
const STARTER_HEADER: &str =
    "//! `/v1/persons`: parse the request, call the controller, format the answer.\n";
const RESOLVED_HEADER: &str =
    "//! `/v1/persons`: the people the ledger bills: parse, call the controller, answer.\n";

/// The second release bumps dependencies: base64 0.23 in `Cargo.toml`, a newer regex in
/// the lock (the template's today). Also edits in a file the team also edits (in another
/// place, and in the same place: the planned conflict), a config comment, the README, a new
/// file, two files removed.
fn second_release(starter: &Path) {
    let template = starter.join("template");
    edit(&template, PERSONS, HEADER, STARTER_HEADER);
    edit(
        &template,
        PERSONS,
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
    let regex = locked(&read(&template, "Cargo.lock"), "regex").join(", ");
    release(
        starter,
        "0.1.0",
        "0.2.0",
        &format!(
            "### Changed\n\
             - Dependencies: base64 0.23 (was 0.22), regex {regex} (was {OLD_REGEX}).\n\
             - `deploy/RUNBOOK.md`: what to do when the service does not answer.\n\
             - `.dockerignore` and `benches/http.sh` are gone.\n\n\
             ### By hand\n\
             - If you changed `benches/http.sh`, the update keeps yours: delete it once unused.\n"
        ),
    );
}

/// The third release moves the persons views into a folder of their own (and changes a
/// line far from the team's), and raises a config default the team also changed (the
/// planned conflict).
fn third_release(starter: &Path) {
    let template = starter.join("template");
    std::fs::create_dir_all(template.join(PERSONS_MOVED).parent().expect("folder")).expect("mkdir");
    git(&template, &["mv", PERSONS, PERSONS_MOVED]);
    edit(
        &template,
        PERSONS_MOVED,
        "/// Replace a person\n",
        "/// Replace a person, every field at once\n",
    );
    edit(
        &template,
        "config/default.yaml",
        "  max_connections: 10\n",
        "  max_connections: 16\n",
    );
    release(
        starter,
        "0.2.0",
        "0.3.0",
        &format!(
            "### Changed\n\
             - The persons views moved to `{PERSONS_MOVED}`, with room for submodules.\n\
             - `database.max_connections` is 16 by default (was 10).\n\n\
             ### By hand\n\
             - If you had moved or deleted `{PERSONS}`, move yours the same way: the update \
             follows the move only for a file still in its place.\n"
        ),
    );
}

/// The fourth release adds a table: a `webhooks` resource written by the starter's own
/// generator (migration, entity, controller, routes, tests, drift test entry), registered
/// where the team's generated resource is registered too (the planned conflicts). Returns
/// the migration's module.
fn fourth_release(starter: &Path) -> String {
    let template = starter.join("template");
    let generated = xtask(
        &template,
        &[
            "new",
            "resource",
            "webhook",
            "url:string(200)",
            "active:bool",
        ],
    );
    assert!(generated.status.success(), "{}", describe(&generated));
    // Nothing the generator touched has a Liquid twin to derive again.
    let changed = git(
        &template,
        &["status", "--porcelain", "--untracked-files=all", "."],
    );
    for line in changed.lines() {
        let path = line.get(3..).unwrap_or_default();
        let path = path.strip_prefix("template/").unwrap_or(path);
        assert!(
            !template.join(format!("{path}.liquid")).exists(),
            "the generator changed {path}, which has a twin"
        );
    }
    let migration = files(&template.join("migration/src"))
        .into_iter()
        .filter_map(|path| path.file_stem()?.to_str().map(str::to_owned))
        .find(|stem| stem.ends_with("_create_webhooks"))
        .expect("the generator wrote a migration");
    release(
        starter,
        "0.3.0",
        "0.4.0",
        &format!(
            "### Changed\n\
             - A new table, `webhooks`: migration `{migration}`, its entity, controller, \
             routes under `/v1/webhooks` and tests.\n\n\
             ### By hand\n\
             - Run the migration in each environment: `db upgrade` (or `MIGRATE_ON_START=true`).\n\
             - If you generated resources of your own, `migration/src/lib.rs`, \
             `src/api/v1/mod.rs` and the drift test list both: keep both sides, the \
             migrations in time order.\n"
        ),
    );
    migration
}

/// The team's work on its project: a resource from the generators, a dependency, a
/// handler, a config value, a script.
fn team_edits(project: &Path) {
    let generator = [
        "new",
        "resource",
        "invoice",
        "number:string",
        "amount_cents:i64",
    ];
    let generated = xtask(project, &generator);
    assert!(
        generated.status.success(),
        "cargo xtask {}:\n{}",
        generator.join(" "),
        describe(&generated)
    );
    edit(
        project,
        "Cargo.toml",
        "yaml_serde = \"0.10\"\n",
        "yaml_serde = \"0.10\"\nitoa = \"1\"\n",
    );
    settle_lock(project);
    edit(project, PERSONS, HEADER, TEAM_HEADER);
    edit(
        project,
        PERSONS,
        "    let row = controller::get(&state.db, id).await?;\n",
        "    let row = controller::get(&state.db, id).await?;\n    \
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
}

/// Asserts that `update` refused, saying `why`, and that `project` is as `before`.
fn assert_refused_and_unchanged(
    project: &Path,
    before: &BTreeMap<PathBuf, Vec<u8>>,
    args: &[&str],
    why: &[&str],
) {
    let refused = update(project, args);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert_says(&String::from_utf8_lossy(&refused.stderr), why);
    assert!(
        &snapshot(project) == before,
        "a refused update changed files"
    );
}

/// Resolves each conflict of `dir/file` with `resolve(ours, theirs)`; asserts there were
/// `count`, each between this project and the starter's `tag` (with the starter's old lines
/// in between, which the resolutions here do not need).
fn resolve_conflicts(
    dir: &Path,
    file: &str,
    tag: &str,
    count: usize,
    resolve: impl Fn(&str, &str) -> String,
) {
    let text = read(dir, file);
    let (mut out, mut ours, mut theirs) = (String::new(), String::new(), String::new());
    let mut side = 0;
    let mut found = 0;
    for line in text.split_inclusive('\n') {
        match (side, line) {
            (0, "<<<<<<< this project\n") => side = 1,
            (1, base) if base.starts_with("||||||| starter ") => side = 3,
            (1, "=======\n") => side = 2,
            (3, "=======\n") => side = 2,
            (3, _) => {}
            (2, end) if end.starts_with(">>>>>>> ") => {
                assert_eq!(end, format!(">>>>>>> starter {tag}\n"), "{file}");
                out.push_str(&resolve(&ours, &theirs));
                (ours, theirs, side) = (String::new(), String::new(), 0);
                found += 1;
            }
            (1, line) => ours.push_str(line),
            (2, line) => theirs.push_str(line),
            (_, line) => out.push_str(line),
        }
    }
    assert_eq!((found, side), (count, 0), "conflicts in {file}:\n{text}");
    std::fs::write(dir.join(file), out).expect("write");
}

/// Both sides of a conflict: the team's lines, then the starter's (two resources
/// registered in one place: both stay, the older first).
fn both(ours: &str, theirs: &str) -> String {
    format!("{ours}{theirs}")
}

/// The team's side of a conflict.
fn ours(ours: &str, _: &str) -> String {
    ours.to_owned()
}

/// The persons views' header, resolved as the team does.
fn header(ours: &str, theirs: &str) -> String {
    assert_eq!((ours, theirs), (TEAM_HEADER, STARTER_HEADER));
    RESOLVED_HEADER.to_owned()
}

/// The files of the fourth release that both the team's generated resource and the
/// starter's register in (how many conflicts each).
const REGISTRIES: [(&str, usize); 3] = [
    ("migration/src/lib.rs", 2),
    ("src/api/v1/mod.rs", 1),
    ("tests/api/schema.rs", 1),
];

/// The project's own checks: format, lints, and its tests as its CI runs them (the
/// service's, not xtask's: those describe a fresh render, and this project has grown),
/// or only those `filter` names.
fn own_checks(project: &Path, filter: &[&str]) {
    cargo_in(project, &["fmt", "--check"]);
    cargo_in(
        project,
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
    let tested = cargo_in(project, &[&["test", "--locked"], filter].concat());
    let notes = String::from_utf8_lossy(&tested.stderr);
    if std::env::var_os("TEST_DATABASE_URL").is_some() {
        assert!(
            !notes.contains("run on SQLite only"),
            "tests ran on SQLite:\n{notes}"
        );
    }
    assert_eq!(git(project, &["status", "--porcelain"]), "");
}

#[test]
fn a_project_takes_in_each_release_and_one_that_skipped_them_takes_all_at_once() {
    let mut clock = Clock::start();
    let scratch = tempfile::tempdir().expect("temp dir");
    let starter = scratch.path().join("starter");
    first_release(&starter);

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
    let source = source.display().to_string();
    assert_says(
        &answers,
        &[
            &format!("source = \"{source}\""),
            "revision = \"v0.1.0\"",
            "version = \"0.1.0\"",
        ],
    );
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

    // The first release is the newest: nothing to do. The first build (xtask's) leaves the
    // tree clean: the rendered lock is the one cargo writes.
    let noop = update(&project, &[]);
    assert!(noop.status.success(), "{}", describe(&noop));
    assert_says(&stdout(&noop), &["Already up to date"]);
    assert_eq!(git(&project, &["status", "--porcelain"]), "");
    let current = check(&project, &[]);
    assert!(current.status.success(), "{}", describe(&current));
    assert_says(
        &stdout(&current),
        &[
            &format!("This project: the starter's v0.1.0 ({source})."),
            "Already up to date",
        ],
    );

    team_edits(&project);
    let team_commit = git(&project, &["rev-parse", "HEAD"]);
    let team_lock = read(&project, "Cargo.lock");
    let team_itoa = locked(&team_lock, "itoa");
    assert_eq!(team_itoa.len(), 1, "one itoa: {team_itoa:?}");
    assert_eq!(locked(&team_lock, "regex"), [OLD_REGEX]);
    clock.lap("the first release, a project and the team's edits");

    // --- v0.2.0: dependencies bumped, the planned conflict in the persons views.
    second_release(&starter);

    // `starter check`: one release behind, what an update would touch, the notes; exit 1,
    // or 0 with --exit-zero. It writes nothing.
    let before = snapshot(&project);
    let behind = check(&project, &[]);
    assert_eq!(behind.status.code(), Some(1), "{}", describe(&behind));
    let said = stdout(&behind);
    assert_says(
        &said,
        &[
            "This project: the starter's v0.1.0",
            "Newest release: v0.2.0: 1 release behind (v0.2.0).",
            "taken        README.md",
            "merged       config/default.yaml",
            "conflicting  src/api/v1/persons.rs",
            "Cargo.lock   would be re-resolved",
            "## v0.2.0\n\n### Changed\n- Dependencies: base64 0.23",
            "### By hand\n- If you changed `benches/http.sh`",
            "`cargo xtask starter update` takes v0.2.0 in",
        ],
    );
    assert!(!said.contains("## v0.1.0"), "{said}");
    let reported = check(&project, &["--exit-zero"]);
    assert!(reported.status.success(), "{}", describe(&reported));
    assert_says(&stdout(&reported), &["1 release behind (v0.2.0)"]);
    assert!(snapshot(&project) == before, "a check changed files");

    // A dirty work tree is refused, and nothing changes; a changed lock alone is refused
    // with the command that settles it.
    std::fs::write(project.join("notes.txt"), "not committed\n").expect("write");
    let why = ["uncommitted changes", "Nothing was changed"];
    assert_refused_and_unchanged(&project, &snapshot(&project), &[], &why);
    std::fs::remove_file(project.join("notes.txt")).expect("remove");
    let config = read(&project, "config/default.yaml");
    std::fs::write(
        project.join("config/default.yaml"),
        format!("{config}# wip\n"),
    )
    .expect("write");
    assert_refused_and_unchanged(&project, &snapshot(&project), &["--dry-run"], &why);
    git(&project, &["checkout", "--", "config/default.yaml"]);
    // A lock cargo rewrites on the next build (one rendered by an older starter's plain
    // `cargo generate`), committed: the update's own build rewrites it, then refuses with
    // the command that commits it.
    std::fs::write(project.join("Cargo.lock"), format!("{team_lock}\n")).expect("write");
    commit_all(&project, "A lock cargo does not keep");
    let refused = update(&project, &[]);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert_says(
        &String::from_utf8_lossy(&refused.stderr),
        &[
            "Cargo.lock changed since the last commit",
            "git commit -m \"Settle Cargo.lock\" Cargo.lock",
            "Nothing was changed",
        ],
    );
    assert_eq!(git(&project, &["status", "--porcelain"]), "M Cargo.lock");
    git(&project, &["reset", "--quiet", "--hard", "HEAD~1"]);
    assert_eq!(read(&project, "Cargo.lock"), team_lock);

    // A hostile `.starter/answers.toml`, committed (a change that got past review): a
    // source git would read as an option or a command, a revision it would read as an
    // option. Both commands refuse before running git on them, and nothing runs.
    let ran = scratch.path().join("ran");
    let hostile = [
        (
            format!("source = \"{source}\""),
            format!("source = \"--upload-pack=touch {}\"", ran.display()),
            "`source` = \"--upload-pack",
        ),
        (
            format!("source = \"{source}\""),
            format!("source = \"ext::sh -c touch% {}\"", ran.display()),
            "names git transport `ext::`",
        ),
        (
            "revision = \"v0.1.0\"".to_owned(),
            format!("revision = \"--output={}\"", ran.display()),
            "`revision` = \"--output",
        ),
    ];
    for (old, new, why) in hostile {
        edit(&project, ".starter/answers.toml", &old, &new);
        commit_all(&project, "A hostile answers file");
        let before = snapshot(&project);
        for args in [&["starter", "check"][..], &["starter", "update"]] {
            let refused = xtask(&project, args);
            assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
            assert_says(&String::from_utf8_lossy(&refused.stderr), &[why]);
        }
        assert!(snapshot(&project) == before, "a refusal changed files");
        assert!(!ran.exists(), "{new} ran a command");
        git(&project, &["reset", "--quiet", "--hard", "HEAD~1"]);
    }

    // A dry run prints the summary, the notes and the diff, and writes nothing.
    let before = snapshot(&project);
    let dry = update(&project, &["--dry-run"]);
    assert!(dry.status.success(), "{}", describe(&dry));
    assert_says(
        &stdout(&dry),
        &[
            "Updating from the starter's v0.1.0 to v0.2.0",
            "conflicting  src/api/v1/persons.rs",
            "## v0.2.0",
            "diff --git a/deploy/RUNBOOK.md b/deploy/RUNBOOK.md",
            "+<<<<<<< this project",
            "-  # A request still running after this many seconds gets a 408.",
            "Dry run: nothing was written",
        ],
    );
    assert!(snapshot(&project) == before, "a dry run changed files");
    assert_eq!(git(&project, &["status", "--porcelain"]), "");

    // The update: every change that does not collide is in, the collision is marked.
    let updated = update(&project, &[]);
    assert_eq!(updated.status.code(), Some(1), "{}", describe(&updated));
    let said = stdout(&updated);
    assert_says(
        &said,
        &[
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
            "## v0.2.0",
            "Conflicts are left",
        ],
    );
    let persons = read(&project, PERSONS);
    assert!(
        persons.starts_with(&format!(
            "<<<<<<< this project\n{TEAM_HEADER}||||||| starter v0.1.0\n{HEADER}=======\n\
             {STARTER_HEADER}>>>>>>> starter v0.2.0\n"
        )),
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
    // The generated resource is the team's: the update leaves it alone.
    assert!(project.join("tests/api/invoices.rs").is_file());
    assert!(!said.contains("invoices"), "{said}");
    let answers = read(&project, ".starter/answers.toml");
    assert!(answers.contains("revision = \"v0.2.0\"") && answers.contains("version = \"0.2.0\""));

    // The team resolves the conflict, commits, and the project passes its own checks.
    resolve_conflicts(&project, PERSONS, "v0.2.0", 1, header);
    commit_all(&project, "Starter v0.2.0");
    clock.lap("v0.2.0: check, refusals, dry run, update");
    // The lints compile every target with the new dependencies; the persons tests run the
    // file of the conflict. The whole suite runs at v0.4.0, over everything this brought.
    own_checks(&project, &["--test", "api", "persons"]);
    clock.lap("v0.2.0: the project's checks");

    // Up to date now: a no-op that says so, and a check that passes.
    let before = snapshot(&project);
    let again = update(&project, &[]);
    assert!(again.status.success(), "{}", describe(&again));
    assert_says(
        &stdout(&again),
        &["Already up to date: this project is at the starter's v0.2.0"],
    );
    let current = check(&project, &[]);
    assert!(current.status.success(), "{}", describe(&current));
    assert_says(&stdout(&current), &["Already up to date"]);
    assert!(
        snapshot(&project) == before,
        "an up-to-date update changed files"
    );

    // --- v0.3.0: the persons views move; the planned conflict in the config.
    third_release(&starter);
    let updated = update(&project, &[]);
    assert_eq!(updated.status.code(), Some(1), "{}", describe(&updated));
    let said = stdout(&updated);
    assert_says(
        &said,
        &[
            "Updating from the starter's v0.2.0 to v0.3.0",
            &format!("removed      {PERSONS} (moved by the starter to {PERSONS_MOVED})"),
            &format!("merged       {PERSONS_MOVED} (moved from {PERSONS}: your changes followed)"),
            "conflicting  config/default.yaml",
            "## v0.3.0",
            "### By hand\n- If you had moved or deleted",
        ],
    );
    assert!(
        !said.contains("## v0.2.0"),
        "only the new release's notes:\n{said}"
    );
    assert!(!project.join(PERSONS).exists(), "the old place is gone");
    let moved = read(&project, PERSONS_MOVED);
    for followed in [
        RESOLVED_HEADER,
        "tracing::debug!(person = id, \"read\");",
        "/// Replace a person, every field at once\n",
    ] {
        assert!(moved.contains(followed), "{followed:?} in:\n{moved}");
    }
    resolve_conflicts(
        &project,
        "config/default.yaml",
        "v0.3.0",
        1,
        |ours, theirs| {
            assert_eq!(
                (ours, theirs),
                ("  max_connections: 12\n", "  max_connections: 16\n")
            );
            ours.to_owned()
        },
    );
    commit_all(&project, "Starter v0.3.0");
    clock.lap("v0.3.0: update");
    // What moved is code: the lints compile every target (a file left at the old place
    // next to the new one would not build), and the persons tests run it.
    own_checks(&project, &["--test", "api", "persons"]);
    clock.lap("v0.3.0: the project's checks");

    // --- v0.4.0: a new table, registered where the team's resource is registered too.
    let migration = fourth_release(&starter);
    let updated = update(&project, &[]);
    assert_eq!(updated.status.code(), Some(1), "{}", describe(&updated));
    let said = stdout(&updated);
    assert_says(
        &said,
        &[
            "Updating from the starter's v0.3.0 to v0.4.0",
            &format!("added        migration/src/{migration}.rs"),
            "added        src/models/webhook.rs",
            "added        tests/api/webhooks.rs",
            "merged       src/models/mod.rs",
            "merged       tests/api/main.rs",
            "## v0.4.0",
            &format!("A new table, `webhooks`: migration `{migration}`"),
        ],
    );
    for (file, count) in REGISTRIES {
        assert_says(&said, &[&format!("conflicting  {file}")]);
        resolve_conflicts(&project, file, "v0.4.0", count, both);
    }
    commit_all(&project, "Starter v0.4.0");
    clock.lap("v0.4.0: update");
    // The whole suite, as the project's CI runs it: the new table's migration and tests,
    // both resources' drift entries, and all that v0.2.0 and v0.3.0 brought.
    own_checks(&project, &[]);
    clock.lap("v0.4.0: the project's checks");
    let current = check(&project, &[]);
    assert!(current.status.success(), "{}", describe(&current));
    assert_says(
        &stdout(&current),
        &["Already up to date: this project is at the starter's v0.4.0"],
    );

    // --- A project that skipped releases: the team's project as it was at v0.1.0 (a clone
    // of it at the team's commit), updated straight to v0.4.0.
    let skipped = scratch.path().join("skipped");
    git(
        scratch.path(),
        &[
            "clone",
            "--quiet",
            "--",
            &project.display().to_string(),
            "skipped",
        ],
    );
    git(&skipped, &["reset", "--quiet", "--hard", &team_commit]);
    let behind = check(&skipped, &[]);
    assert_eq!(behind.status.code(), Some(1), "{}", describe(&behind));
    let said = stdout(&behind);
    assert_says(
        &said,
        &[
            "Newest release: v0.4.0: 3 releases behind (v0.2.0, v0.3.0, v0.4.0).",
            &format!("conflicting  {PERSONS_MOVED} (moved from {PERSONS}: your changes followed)"),
        ],
    );
    // Every release's notes, oldest first.
    let at = |heading: &str| {
        said.find(heading)
            .unwrap_or_else(|| panic!("{heading} in:\n{said}"))
    };
    assert!(at("## v0.2.0") < at("## v0.3.0") && at("## v0.3.0") < at("## v0.4.0"));
    assert!(!said.contains("## v0.1.0"), "{said}");

    let updated = update(&skipped, &[]);
    assert_eq!(updated.status.code(), Some(1), "{}", describe(&updated));
    let said = stdout(&updated);
    assert_says(
        &said,
        &[
            "Updating from the starter's v0.1.0 to v0.4.0",
            "## v0.2.0",
            "## v0.4.0",
        ],
    );
    resolve_conflicts(&skipped, PERSONS_MOVED, "v0.4.0", 1, header);
    resolve_conflicts(&skipped, "config/default.yaml", "v0.4.0", 1, ours);
    for (file, count) in REGISTRIES {
        resolve_conflicts(&skipped, file, "v0.4.0", count, both);
    }
    commit_all(&skipped, "Starter v0.4.0");
    // Resolved alike, the project that skipped is file for file the one that took each
    // release, whose checks passed at v0.4.0: its own would build and run the same code.
    let (stepped, jumped) = (snapshot(&project), snapshot(&skipped));
    let differ: Vec<&PathBuf> = stepped
        .keys()
        .chain(jumped.keys())
        .filter(|path| stepped.get(*path) != jumped.get(*path))
        .collect();
    assert!(differ.is_empty(), "the two projects differ in {differ:?}");
    cargo_in(&skipped, &["fmt", "--check"]);
    clock.lap("a project that skipped releases: check, update, comparison");

    // The release check catches a tag that names another version, without notes.
    git(&starter, &["tag", "v0.5.0"]);
    assert_eq!(release_problems(&starter).len(), 3);
}
