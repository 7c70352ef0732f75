//! A generated project stands alone: none of its files (nor of `template/`) refers to a path
//! outside it, such as a folder beside the starter that the project's team will not have.
use std::path::Path;

use starter_tests::{describe, files, render, repo_root, template_dir};

/// Folders of the machine the starter is developed on, named in no project.
const FORBIDDEN: &[&str] = &["/work/", "shared/yardstick"];

/// Characters a path in prose, code or a script is made of.
fn in_path(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_.-/".contains(c)
}

/// Whether `path`, written in a file of folder `base` (relative to the project's root),
/// leads outside the project. A bare `../` (a URL's parent, as in a link to `../`) names
/// no file and is left alone.
fn leaves(base: &Path, path: &str) -> bool {
    let mut depth = base.components().count();
    let mut escaped = false;
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if depth == 0 => escaped = true,
            ".." => depth -= 1,
            _ if escaped => return true,
            _ => depth += 1,
        }
    }
    false
}

/// The references to paths outside the project in `text`, a file of folder `base`. In
/// Markdown, a path given to `include_str!` is relative to a Rust file the text names,
/// not to the page (the README's generator examples), and is left alone.
fn outside(base: &Path, text: &str, markdown: bool) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        if let Some(name) = FORBIDDEN.iter().find(|name| line.contains(*name)) {
            found.push(format!("{name} in: {}", line.trim()));
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("../") {
            let start = rest[..at]
                .rfind(|c: char| !in_path(c))
                .map_or(0, |before| before + 1);
            let end = rest[at..]
                .find(|c: char| !in_path(c))
                .map_or(rest.len(), |after| at + after);
            let path = &rest[start..end];
            let included = markdown && rest[..start].ends_with("include_str!(\"");
            if !path.starts_with('/') && !included && leaves(base, path) {
                found.push(format!("{path} in: {}", line.trim()));
            }
            rest = &rest[end..];
        }
    }
    found
}

/// Every reference to a path outside `project`, by file.
fn outside_references(project: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    for file in files(project) {
        let Ok(text) = std::fs::read_to_string(project.join(&file)) else {
            continue; // not text
        };
        let base = file.parent().unwrap_or(Path::new(""));
        let name = file.to_string_lossy();
        let markdown = name.ends_with(".md") || name.ends_with(".md.liquid");
        for reference in outside(base, &text, markdown) {
            problems.push(format!("{}: {reference}", file.display()));
        }
    }
    problems
}

#[test]
fn no_file_of_the_template_refers_outside_it() {
    let problems = outside_references(&template_dir());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_file_of_a_rendered_project_refers_outside_it() {
    let into = tempfile::tempdir().expect("temp dir");
    let values = repo_root().join("examples/acme-billing.toml");
    let output = render("acme-billing", into.path(), Some(&values));
    assert!(output.status.success(), "{}", describe(&output));
    let project = into.path().join("acme-billing");
    assert!(project.join("README.md").is_file(), "{}", describe(&output));
    let problems = outside_references(&project);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn paths_are_resolved_from_the_file_that_names_them() {
    let root = Path::new("");
    let deep = Path::new("deploy/kubernetes/app");
    assert_eq!(
        outside(root, "../shared/yardstick/setup.sh", false).len(),
        1
    );
    assert_eq!(
        outside(root, "see (`../other/x`) and ../y, not ./z", false).len(),
        2
    );
    assert!(outside(deep, "resources:\n  - ../image", false).is_empty());
    let included = r#"include_str!("../../docs/a.md")"#;
    assert!(outside(Path::new("src/api"), included, false).is_empty());
    assert_eq!(outside(Path::new("src"), "../../x.md", false).len(), 1);
    let example = r#"content: '("a", include_str!("../../docs/a.md")),'"#;
    assert!(outside(root, example, true).is_empty());
    assert_eq!(outside(root, example, false).len(), 1);
    assert_eq!(outside(root, "see ../../docs/a.md", true).len(), 1);
    assert!(outside(root, "[API reference](../) and `../`", false).is_empty());
    assert!(outside(root, "/home/team/../starter", false).is_empty());
    assert_eq!(outside(root, "cd /work/main", false).len(), 1);
}
