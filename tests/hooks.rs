//! `hooks/check-name.rhai` refuses names the project cannot take. A Rhai hook cannot read
//! files, so its lists are written out; these tests hold them to their sources: the
//! template's manifests, and the generators' list of Rust keywords.
use std::collections::BTreeSet;

use starter_tests::{repo_root, template_dir};

/// The quoted strings of the Rhai array `let {name} = [...];` in the hook.
fn hook_list(name: &str) -> BTreeSet<String> {
    let hook = std::fs::read_to_string(repo_root().join("hooks/check-name.rhai")).expect("hook");
    let start = format!("let {name} = [");
    let at = hook
        .find(&start)
        .unwrap_or_else(|| panic!("the hook has no `{start}`"));
    let body = &hook[at + start.len()..];
    let body = &body[..body.find("];").expect("the list ends")];
    quoted(body)
}

/// Every `"..."` of `text`.
fn quoted(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The keys of `[section]` in a manifest, as crate names (`sea-orm` is `sea_orm`).
fn section_keys(manifest: &str, section: &str) -> BTreeSet<String> {
    let header = format!("[{section}]");
    let mut inside = false;
    let mut keys = BTreeSet::new();
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == header;
        } else if inside
            && !line.starts_with('#')
            && let Some((key, _)) = line.split_once('=')
        {
            let key = key.split('.').next().unwrap_or_default().trim();
            keys.insert(key.trim_matches('"').replace('-', "_"));
        }
    }
    keys
}

#[test]
fn the_hook_reserves_exactly_the_crates_the_service_uses() {
    let manifest = std::fs::read_to_string(template_dir().join("Cargo.toml")).expect("manifest");
    let mut used = BTreeSet::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        used.extend(section_keys(&manifest, section));
    }
    let listed = hook_list("dependencies");
    let missing: Vec<&String> = used.difference(&listed).collect();
    let stale: Vec<&String> = listed.difference(&used).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "hooks/check-name.rhai's `dependencies` differ from template/Cargo.toml: add {missing:?}, remove {stale:?}"
    );
    // The parsing sees what it must: a dependency written with a dash and a dev one.
    assert!(used.contains("pulldown_cmark") && used.contains("testcontainers_modules"));
}

#[test]
fn the_hook_reserves_the_template_s_other_workspace_members() {
    let manifest = std::fs::read_to_string(template_dir().join("Cargo.toml")).expect("manifest");
    let workspace = &manifest[manifest.find("[workspace]").expect("a workspace")..];
    let members_line = workspace
        .lines()
        .find(|line| line.trim_start().starts_with("members"))
        .expect("members");
    let mut members = quoted(members_line);
    members.remove(".");
    assert_eq!(hook_list("members"), members);
}

#[test]
fn the_hook_and_the_generators_know_the_same_keywords() {
    let names = std::fs::read_to_string(template_dir().join("xtask/src/names.rs")).expect("names");
    let start = names
        .find("const KEYWORDS: &[&str] = &[")
        .expect("the generators' keywords");
    let list = &names[start..];
    let list = &list[..list.find("];").expect("the list ends")];
    let generators = quoted(list);
    assert!(generators.contains("gen") && generators.contains("self"));
    assert_eq!(hook_list("keywords"), generators);
}
