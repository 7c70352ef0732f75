//! Helpers for the template's tests: where things are, how the skeleton's name is turned
//! into Liquid, and how to render and check a project.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

/// The skeleton's name, replaced at generation.
pub const SKELETON: &str = "foo";

/// The template repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}

/// The skeleton service.
pub fn template_dir() -> PathBuf {
    repo_root().join("template")
}

/// Every file below `dir`, relative to it, skipping build output and local databases.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder).unwrap_or_else(|e| panic!("{folder:?}: {e}"));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != "target" && name != ".git" {
                    pending.push(path);
                }
            } else if !name.ends_with(".db") && !name.contains(".db-") {
                found.push(path.strip_prefix(dir).expect("below dir").to_owned());
            }
        }
    }
    found.sort();
    found
}

fn is_ident(c: Option<char>) -> bool {
    c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Where `word` stands alone in `text` (not inside a longer identifier).
fn word_positions<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(word)
        .map(|(at, _)| at)
        .filter(move |&at| {
            let before = text[..at].chars().next_back();
            let after = text[at + word.len()..].chars().next();
            // `CARGO_BIN_EXE_foo` counts: there `_` separates the name.
            let head = &text[..at];
            let before_ok = !is_ident(before)
                || head.ends_with("CARGO_BIN_EXE_")
                || head.ends_with("cargo_bin_exe_");
            before_ok && !is_ident(after)
        })
}

/// Whether `text` has `word` standing alone, ignoring case.
pub fn has_word(text: &str, word: &str) -> bool {
    let text = text.to_ascii_lowercase();
    let word = word.to_ascii_lowercase();
    word_positions(&text, &word).next().is_some()
}

/// Replaces the skeleton's name in `text` with the Liquid placeholder that fits the spot:
/// the crate name in Rust code and paths, the package name elsewhere.
pub fn liquefy(path: &Path, text: &str) -> String {
    if path == Path::new("Cargo.lock")
        && let Some(twin) = liquefy_lock(text)
    {
        return twin;
    }
    liquefy_words(path, text)
}

/// What separates the packages of a lock file.
const LOCK_PACKAGE: &str = "\n[[package]]\n";

/// The lock's twin. cargo lists a lock's packages sorted by name and rewrites a lock that
/// is not (on the first build: a new project's first commit would be followed by a changed
/// lock), and only the render knows where the project's name sorts. So the twin keeps the
/// project's package apart and Liquid puts it in its place: before the first package whose
/// name sorts after it, else last. `None` when the lock does not have the skeleton's
/// package.
fn liquefy_lock(text: &str) -> Option<String> {
    let start = text.find(LOCK_PACKAGE)?;
    let (head, packages) = text.split_at(start);
    let own = format!("name = \"{SKELETON}\"\n");
    let mut project = None;
    let mut others = String::new();
    for package in packages.split(LOCK_PACKAGE).skip(1) {
        if package.starts_with(&own) {
            project = Some(package);
        } else {
            others.push_str(LOCK_PACKAGE);
            others.push_str(package);
        }
    }
    let project = liquefy_words(Path::new("Cargo.lock"), project?);
    // Each tag sits on the line of the text before it: the output is exactly cargo's. The
    // packages are split at `[[package]]`, so each piece but the first ends with the blank
    // line before the next package (the last one, with the file's last line).
    Some(format!(
        "{head}{{% comment %}}The project's package goes where its name sorts, as cargo \
         writes it (a twin derived by the starter's tests/lib.rs).{{% endcomment %}}\
         {{% capture project %}}\n{project}{{% endcapture %}}\
         {{% capture others %}}{others}{{% endcapture %}}\
         {{% assign packages = others | split: \"[[package]]\" %}}{{{{ packages[0] }}}}\
         {{% assign placed = false %}}{{% for package in packages offset: 1 %}}\
         {{% assign fields = package | split: '\"' %}}\
         {{% if placed == false and project-name < fields[1] %}}[[package]]{{{{ project }}}}\n\
         {{% assign placed = true %}}{{% endif %}}[[package]]{{{{ package }}}}{{% endfor %}}\
         {{% if placed == false %}}\n[[package]]{{{{ project }}}}{{% endif %}}"
    ))
}

/// Replaces the skeleton's name word by word (see `liquefy`).
fn liquefy_words(path: &Path, text: &str) -> String {
    let rust = path.extension().is_some_and(|e| e == "rs");
    // Kubernetes names are DNS labels: `payments_api` must become `payments-api` there.
    let kubernetes = path.starts_with("deploy/kubernetes");
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    for at in word_positions(text, SKELETON) {
        let head = &text[..at];
        let after = &text[at + SKELETON.len()..];
        let placeholder = if head.ends_with("CARGO_BIN_EXE_") {
            "{{project-name}}"
        } else if rust || after.starts_with("::") {
            "{{crate_name}}"
        } else if kubernetes {
            "{{project-name | kebab_case}}"
        } else {
            "{{project-name}}"
        };
        out.push_str(&text[done..at]);
        out.push_str(placeholder);
        done = at + SKELETON.len();
    }
    out.push_str(&text[done..]);
    out
}

/// The executable `name` in a folder of `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|candidate| candidate.is_file())
    })
}

/// `name` on the PATH, or `None` after saying the check is skipped (failing under `CI`).
pub fn tool(name: &str, check: &str) -> Option<PathBuf> {
    let found = on_path(name);
    if found.is_none() {
        let message = format!("no `{name}` on the PATH (see .ci/tools): {check} SKIPPED");
        assert!(std::env::var_os("CI").is_none(), "{message} (CI is set)");
        eprintln!("*** {message}");
    }
    found
}

/// The `cargo-generate` executable: `$CARGO_GENERATE`, else the one on `PATH`.
pub fn cargo_generate() -> PathBuf {
    if let Some(path) = std::env::var_os("CARGO_GENERATE") {
        return path.into();
    }
    on_path("cargo-generate").unwrap_or_else(|| {
        panic!(
            "cargo-generate is not installed: run `cargo install --locked --path \
             tools/cargo-generate` from the repository root (see README.md)"
        )
    })
}

/// Renders the template as `name` into a new folder below `into`. `--no-workspace`: a
/// render below this repository (`tests/deploy.rs` renders under `target/`) must not be
/// added to the harness's workspace.
pub fn render(name: &str, into: &Path, values_file: Option<&Path>) -> Output {
    let mut command = Command::new(cargo_generate());
    command
        .arg("generate")
        .arg("--path")
        .arg(repo_root())
        .arg("template")
        .args(["--name", name, "--silent", "--vcs", "none"])
        .arg("--no-workspace")
        .arg("--destination")
        .arg(into);
    if let Some(file) = values_file {
        command.arg("--values-file").arg(file);
    }
    command.output().expect("cargo-generate runs")
}

/// The output of a finished command, for failure messages.
pub fn describe(output: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Where rendered projects build: one target folder shared by all of them, apart from
/// the one this test run builds in (cargo locks a target folder while it builds).
pub fn shared_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("rendered"),
        None => repo_root().join("target").join("rendered"),
    }
}

/// The cargo that runs these tests (`cargo` from `PATH` outside them).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs `cargo args...` in `dir` with the shared target folder, and returns its output
/// whether it failed or not.
pub fn cargo_output(dir: &Path, args: &[&str]) -> Output {
    let mut command = cargo();
    command.args(args).current_dir(dir);
    builds_in_shared_target(dir, &mut command)
}

/// Runs `command`, a cargo command in the rendered project `dir`, with the shared target
/// folder. Every rendered project has a workspace member named `migration` at the same
/// place, and cargo names build outputs after a package's name and its path inside its
/// own workspace: in a shared target folder two projects' `migration` crates are one, and
/// cargo may take another project's build for this one's (it did: a project ran without
/// its generated migrations). So the commands on rendered projects run one at a time, and
/// each first forgets that crate's build (`cargo clean -p migration`: a few seconds).
pub fn builds_in_shared_target(dir: &Path, command: &mut Command) -> Output {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let clean = cargo()
        .args(["clean", "--quiet", "--package", "migration"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .output()
        .expect("cargo runs");
    assert!(
        clean.status.success(),
        "`cargo clean --package migration` failed in {}:\n{}",
        dir.display(),
        describe(&clean)
    );
    command
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .output()
        .expect("cargo runs")
}

/// Runs `cargo args...` in `dir` with the shared target folder; panics with the output
/// when it fails.
pub fn cargo_in(dir: &Path, args: &[&str]) -> Output {
    let output = cargo_output(dir, args);
    assert!(
        output.status.success(),
        "`cargo {}` failed in {}:\n{}",
        args.join(" "),
        dir.display(),
        describe(&output)
    );
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_found_only_when_standing_alone() {
        assert!(has_word("use foo::app;", "foo"));
        assert!(has_word("name = \"Foo\"", "foo"));
        assert!(has_word("foo-migration", "foo"));
        assert!(has_word("CARGO_BIN_EXE_foo", "foo"));
        assert!(!has_word("food and football", "foo"));
        assert!(!has_word("my_foo_bar", "foo"));
    }

    #[test]
    fn liquefy_picks_the_placeholder_by_place() {
        let rs = Path::new("src/main.rs");
        assert_eq!(liquefy(rs, "foo::cli::run()"), "{{crate_name}}::cli::run()");
        assert_eq!(
            liquefy(rs, "env!(\"CARGO_BIN_EXE_foo\")"),
            "env!(\"CARGO_BIN_EXE_{{project-name}}\")"
        );
        let toml = Path::new("Cargo.toml");
        assert_eq!(
            liquefy(toml, "name = \"foo\""),
            "name = \"{{project-name}}\""
        );
        assert_eq!(liquefy(toml, "food"), "food");
        assert_eq!(
            liquefy(Path::new("deploy/kubernetes/app/api.yaml"), "name: foo-api"),
            "name: {{project-name | kebab_case}}-api"
        );
        let md = Path::new("README.md");
        assert_eq!(
            liquefy(md, "`foo serve` and foo::app"),
            "`{{project-name}} serve` and {{crate_name}}::app"
        );
    }
}
