//! Renders the template the way a user does and checks what comes out.
use std::path::Path;

mod beyond_cargo;
mod generators;

use starter_tests::{SKELETON, cargo, cargo_in, describe, files, has_word, render, repo_root};

/// The render that grows by the generators and goes beyond cargo. Not `acme-billing`,
/// which `tests/deploy.rs` builds in the same target folder: two packages of one name in
/// one target folder share their build outputs (cargo names them after the package and its
/// path within its own workspace), so one would run the other's test binaries.
const STORY: &str = "acme-invoicing";

/// Checks that `project` holds no skeleton name, no template syntax and no twin.
fn assert_clean(project: &Path) {
    let mut problems = Vec::new();
    for path in files(project) {
        let shown = path.display().to_string();
        if has_word(&shown, SKELETON) || shown.ends_with(".liquid") {
            problems.push(format!("{shown}: file name"));
        }
        let Ok(text) = std::fs::read_to_string(project.join(&path)) else {
            continue;
        };
        // GitHub Actions expressions (`${{ github.sha }}`) are the workflow's own syntax;
        // Jinja is the generators' (their templates, copied as they are, and the code that
        // reads them).
        let workflow = shown.starts_with(".github/");
        let jinja = shown.starts_with("xtask/templates/") || shown == "xtask/src/new/template.rs";
        for (number, line) in text.lines().enumerate() {
            let leftover = has_word(line, SKELETON);
            let checked = if workflow {
                without_github_expressions(line)
            } else {
                line.to_owned()
            };
            let syntax = !jinja
                && ["{{", "{%", "%}"]
                    .iter()
                    .any(|marker| checked.contains(marker));
            if leftover || syntax {
                problems.push(format!("{shown}:{}: {line}", number + 1));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "leftovers in {}:\n{}",
        project.display(),
        problems.join("\n")
    );
}

/// `line` without its `${{ ... }}` expressions.
fn without_github_expressions(line: &str) -> String {
    let mut rest = line;
    let mut kept = String::new();
    while let Some(start) = rest.find("${{") {
        kept.push_str(&rest[..start]);
        match rest[start..].find("}}") {
            Some(end) => rest = &rest[start + end + 2..],
            None => {
                rest = &rest[start..];
                break;
            }
        }
    }
    kept.push_str(rest);
    kept
}

fn read(project: &Path, file: &str) -> String {
    std::fs::read_to_string(project.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// Renders `name`, checks the names it got, and returns the project folder.
fn rendered(name: &str, package: &str, into: &Path) -> std::path::PathBuf {
    let values = repo_root().join("examples/acme-billing.toml");
    let output = render(name, into, Some(&values));
    assert!(
        output.status.success(),
        "rendering {name:?}:\n{}",
        describe(&output)
    );
    let project = into.join(package);
    assert!(
        project.is_dir(),
        "{} exists:\n{}",
        project.display(),
        describe(&output)
    );
    assert_clean(&project);

    let crate_name = package.replace('-', "_");
    let manifest = read(&project, "Cargo.toml");
    assert!(
        manifest.contains(&format!("name = \"{package}\"")),
        "{manifest}"
    );
    let lock = read(&project, "Cargo.lock");
    assert!(
        lock.contains(&format!("name = \"{package}\"")),
        "Cargo.lock names the package"
    );
    assert!(read(&project, "src/main.rs").contains(&format!("{crate_name}::cli::run()")));
    let answers = read(&project, ".starter/answers.toml");
    assert!(
        answers.contains(&format!("project-name = \"{package}\"")),
        "{answers}"
    );
    assert!(answers.contains(&format!("version = \"{}\"", env!("CARGO_PKG_VERSION"))));
    // Liquid must not have eaten the workflow's `${{ }}` expressions.
    let workflow = ".github/workflows/ci.yml";
    let original = std::fs::read_to_string(repo_root().join("template").join(workflow))
        .expect("the template's workflow");
    assert_eq!(
        read(&project, workflow),
        original,
        "{workflow} is copied as is"
    );
    assert!(original.contains("${{ runner.os }}"));
    let dockerfile = read(&project, "Dockerfile");
    assert!(
        dockerfile.contains(&format!("--bin {package}"))
            && dockerfile.contains(&format!("/usr/local/bin/{package}")),
        "{dockerfile}"
    );
    project
}

/// Renders `name` and runs the project's own checks: formatting, lints and tests.
fn renders_and_passes_its_own_checks(name: &str, package: &str) {
    let into = tempfile::tempdir().expect("temp dir");
    let project = rendered(name, package, into.path());
    // One render also grows by the generators, before its own checks: they then cover
    // the generated code at no extra build.
    let generated = package == STORY;
    if generated {
        let took = generators::run_on(&project);
        eprintln!("generators: two resources, a task and a migration in {took:?}");
    }

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
    let tested = cargo_in(&project, &["test", "--locked"]);
    // With the servers given, nothing was skipped (the skip notice goes to stderr).
    let notes = String::from_utf8_lossy(&tested.stderr);
    if std::env::var_os("TEST_REDIS_URL").is_some()
        && std::env::var_os("TEST_DATABASE_URL").is_some()
    {
        assert!(!notes.contains("SKIPPED"), "tests were skipped:\n{notes}");
        assert!(
            !notes.contains("run on SQLite only"),
            "tests ran on SQLite:\n{notes}"
        );
    }
    if generated {
        generators::assert_generated_tests_ran(&String::from_utf8_lossy(&tested.stdout));
        generators::assert_documented(&project, package);
    }
    if package == STORY {
        // Once is enough: these do not depend on the name.
        beyond_cargo::lint(&project);
        let referring = if generated {
            generators::REFERRING_PATHS
        } else {
            &[]
        };
        beyond_cargo::fuzz_the_api(&project, package, referring);
        let operations = if generated {
            generators::GENERATED_PATHS
        } else {
            &[]
        };
        beyond_cargo::docs_render_in_a_browser(&project, package, operations);
    }
}

#[test]
fn acme_invoicing_renders_clean_and_passes_its_own_checks() {
    renders_and_passes_its_own_checks(STORY, STORY);
}

#[test]
fn a_camel_case_name_renders_clean_and_passes_its_own_checks() {
    renders_and_passes_its_own_checks("MyService", "my-service");
}

#[test]
fn a_short_name_with_a_digit_renders_clean_and_passes_its_own_checks() {
    renders_and_passes_its_own_checks("x2", "x2");
}

#[test]
fn names_with_spaces_are_normalised_and_underscores_kept() {
    let into = tempfile::tempdir().expect("temp dir");
    rendered("Acme Billing", "acme-billing", into.path());
    let into = tempfile::tempdir().expect("temp dir");
    rendered("payments_api", "payments_api", into.path());
}

#[test]
fn bad_names_are_refused_before_anything_is_written() {
    for (name, says) in [
        ("123abc", "starts with a digit"),
        ("self", "already use"),
        ("test", "already use"),
        ("Crate", "already use"),
        ("migration", "already use"),
        ("tokio", "already use"),
        ("SEAOrm", "already use"),
        ("http-body", "already use"),
        ("pulldown-cmark", "already use"),
        ("xtask", "already use"),
        ("café", "ASCII"),
        ("my.service", "ASCII"),
        ("   ", "empty"),
        ("__", "no letter or digit"),
    ] {
        let into = tempfile::tempdir().expect("temp dir");
        let output = render(name, into.path(), None);
        assert!(
            !output.status.success(),
            "{name:?} must be refused:\n{}",
            describe(&output)
        );
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            said.contains(says),
            "{name:?} is refused saying {says:?}:\n{said}"
        );
        let left: Vec<_> = std::fs::read_dir(into.path()).expect("list").collect();
        assert!(left.is_empty(), "{name:?} left files behind: {left:?}");
    }
}

/// A plain `cargo generate` gives a lock cargo leaves as it is: the project's own package
/// sorted in its place, whether its name sorts first, among others or last, so that the
/// first build after the first commit leaves the tree clean (`cargo xtask starter update`
/// refuses a changed tree).
#[test]
fn a_plain_render_has_a_lock_cargo_keeps() {
    let into = tempfile::tempdir().expect("temp dir");
    // First of all, right after a package its name begins with (`hyper`), last of all.
    for name in ["a-first", "hyper-app", "zz-last"] {
        let output = render(name, into.path(), None);
        assert!(output.status.success(), "{name}:\n{}", describe(&output));
        let project = into.path().join(name);
        let rendered = read(&project, "Cargo.lock");
        // What a build does to the lock, without building: resolve, and write it back.
        let offline = cargo()
            .args(["metadata", "--format-version", "1", "--offline"])
            .current_dir(&project)
            .output()
            .expect("cargo runs");
        if !offline.status.success() {
            let online = cargo()
                .args(["metadata", "--format-version", "1"])
                .current_dir(&project)
                .output()
                .expect("cargo runs");
            assert!(online.status.success(), "{name}:\n{}", describe(&online));
        }
        let settled = read(&project, "Cargo.lock");
        assert!(
            rendered == settled,
            "cargo rewrote {name}'s Cargo.lock: the project's package is not where cargo puts it"
        );
        assert!(rendered.contains(&format!("name = \"{name}\"")), "{name}");
    }
}
