//! The skeleton says `foo`; each file that does has a `.liquid` twin that says
//! `{{project-name}}` or `{{crate_name}}` instead. The twins are derived, never edited:
//! after changing such a file, run `UPDATE_TWINS=1 cargo test --test twins`.
use std::collections::BTreeSet;
use std::path::PathBuf;

use starter_tests::{SKELETON, files, has_word, liquefy, repo_root, template_dir};

/// The skeleton files that name the skeleton, and so need a twin.
fn naming_files() -> Vec<PathBuf> {
    let dir = template_dir();
    files(&dir)
        .into_iter()
        .filter(|path| path.extension().is_none_or(|e| e != "liquid"))
        .filter(|path| {
            std::fs::read_to_string(dir.join(path)).is_ok_and(|text| has_word(&text, SKELETON))
        })
        .collect()
}

/// The `.liquid` files of the template, relative to it.
fn liquid_files() -> Vec<PathBuf> {
    files(&template_dir())
        .into_iter()
        .filter(|path| path.extension().is_some_and(|e| e == "liquid"))
        .collect()
}

fn twin_of(path: &std::path::Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".liquid");
    PathBuf::from(name)
}

#[test]
fn every_file_naming_the_skeleton_has_an_up_to_date_twin() {
    let dir = template_dir();
    let update = std::env::var_os("UPDATE_TWINS").is_some();
    let mut stale = Vec::new();
    for path in naming_files() {
        let text = std::fs::read_to_string(dir.join(&path)).expect("read");
        let expected = liquefy(&path, &text);
        let twin = dir.join(twin_of(&path));
        if std::fs::read_to_string(&twin).ok().as_deref() != Some(expected.as_str()) {
            if update {
                std::fs::write(&twin, expected).expect("write twin");
            } else {
                stale.push(twin_of(&path));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "stale or missing twins {stale:?}: run `UPDATE_TWINS=1 cargo test --test twins`"
    );
}

#[test]
fn every_twin_stands_for_a_file_that_names_the_skeleton() {
    let dir = template_dir();
    let needed: BTreeSet<PathBuf> = naming_files().iter().map(|p| twin_of(p)).collect();
    let orphans: Vec<PathBuf> = liquid_files()
        .into_iter()
        .filter(|path| !needed.contains(path))
        // A twin without a skeleton file (`.starter/answers.toml`) exists only rendered.
        .filter(|path| dir.join(path.with_extension("")).exists())
        .collect();
    assert!(
        orphans.is_empty(),
        "twins whose file no longer names the skeleton: {orphans:?}"
    );
}

#[test]
fn liquid_renders_exactly_the_twins() {
    let twins: BTreeSet<String> = liquid_files()
        .iter()
        .filter_map(|path| Some(path.with_extension("").to_str()?.to_owned()))
        .collect();
    let config = std::fs::read_to_string(repo_root().join("cargo-generate.toml")).expect("read");
    let list = config
        .split("include = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .expect("cargo-generate.toml has an include list");
    let included: BTreeSet<String> = list
        .split(',')
        .map(|item| item.trim().trim_matches('"').to_owned())
        .filter(|item| !item.is_empty())
        .collect();
    assert_eq!(
        included, twins,
        "cargo-generate.toml's include list names every twin"
    );
}

#[test]
fn rendered_projects_record_the_starter_version() {
    let answers = std::fs::read_to_string(template_dir().join(".starter/answers.toml.liquid"))
        .expect("read answers template");
    let version = format!("version = \"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(
        answers.contains(&version),
        "answers.toml.liquid says {version}"
    );
}
