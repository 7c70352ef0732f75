//! The starter's benchmark bench (`bench/`: the original stack, loco's build, the
//! comparison): checks that need no server, run on every change. Running the bench itself
//! needs a quiet machine and takes an hour: see the README.
use std::path::{Path, PathBuf};
use std::process::Command;

use starter_tests::{describe, repo_root, tool};

/// Files below `bench/` whose name ends with `suffix`, relative to the repository's root.
fn bench_files(suffix: &str) -> Vec<PathBuf> {
    let root = repo_root();
    let found: Vec<PathBuf> = starter_tests::files(&root.join("bench"))
        .into_iter()
        .filter(|file| file.to_string_lossy().ends_with(suffix))
        .map(|file| Path::new("bench").join(file))
        .collect();
    assert!(!found.is_empty(), "no {suffix} file in bench/");
    found
}

#[test]
fn the_bench_scripts_pass_shellcheck() {
    let Some(shellcheck) = tool("shellcheck", "the bench scripts' lint") else {
        return;
    };
    let output = Command::new(shellcheck)
        .arg("-x")
        .args(bench_files(".sh"))
        .current_dir(repo_root())
        .output()
        .expect("shellcheck runs");
    assert!(output.status.success(), "{}", describe(&output));
}

#[test]
fn the_original_stack_is_valid_python_with_pinned_requirements() {
    let Some(python) = tool("python3", "the original stack's syntax check") else {
        return;
    };
    // Parsed, not compiled: nothing is written into the repository.
    let output = Command::new(python)
        .args([
            "-c",
            "import ast, sys\nfor f in sys.argv[1:]: ast.parse(open(f).read(), f)",
        ])
        .args(bench_files(".py"))
        .current_dir(repo_root())
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", describe(&output));

    let requirements = std::fs::read_to_string(repo_root().join("bench/original/requirements.txt"))
        .expect("bench/original/requirements.txt");
    let loose: Vec<&str> = requirements
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter(|line| !line.contains("=="))
        .collect();
    assert!(
        loose.is_empty(),
        "requirements without a pinned version: {loose:?}"
    );
}
