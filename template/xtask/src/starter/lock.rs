//! `Cargo.lock` after an update. Two lock files merged line by line can name a package
//! twice or lose the dependencies of another, so the lock is never merged as text: cargo
//! resolves the merged manifests starting from this project's lock (every version the team
//! locked that still fits stays), then each package the starter moved between the two
//! releases, and the team did not, is moved to the version the starter's new lock has.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use toml_edit::DocumentMut;

use super::output_of;

/// The versions of each package a lock file names.
pub type Versions = BTreeMap<String, BTreeSet<String>>;

/// Reads the packages of a lock file.
pub fn versions(text: &str) -> Result<Versions, String> {
    let document: DocumentMut = text.parse().map_err(|e| format!("Cargo.lock: {e}"))?;
    let mut versions = Versions::new();
    let packages = document
        .get("package")
        .and_then(|item| item.as_array_of_tables());
    for package in packages.into_iter().flatten() {
        let field = |key: &str| package.get(key).and_then(|item| item.as_str());
        if let (Some(name), Some(version)) = (field("name"), field("version")) {
            versions
                .entry(name.to_owned())
                .or_default()
                .insert(version.to_owned());
        }
    }
    Ok(versions)
}

/// A package the starter moved, to the version its new lock has.
#[derive(Debug, PartialEq)]
pub struct Move {
    pub name: String,
    pub to: String,
}

/// What the update does to `Cargo.lock`.
#[derive(Debug, Default, PartialEq)]
pub struct LockPlan {
    /// The starter's moves, for packages this project left as the starter had them.
    pub moves: Vec<Move>,
    /// Packages the starter moved that the team had moved too: left to cargo and the team.
    pub kept: Vec<String>,
}

impl LockPlan {
    /// Compares this project's lock with the two renders'.
    pub fn new(ours: &Versions, base: &Versions, theirs: &Versions) -> Self {
        let none = BTreeSet::new();
        let names: BTreeSet<&String> = base.keys().chain(theirs.keys()).collect();
        let mut plan = Self::default();
        for name in names {
            let (before, after) = (
                base.get(name).unwrap_or(&none),
                theirs.get(name).unwrap_or(&none),
            );
            if before == after {
                continue;
            }
            if ours.get(name).unwrap_or(&none) != before {
                if !after.is_empty() {
                    plan.kept.push(name.clone());
                }
                continue;
            }
            for version in after.difference(before) {
                plan.moves.push(Move {
                    name: name.clone(),
                    to: version.clone(),
                });
            }
        }
        plan
    }

    /// Lets cargo settle the project's lock on its merged manifests, then applies the
    /// starter's moves; returns what moved (or could not).
    pub fn settle(&self, project: &Path) -> Result<Vec<String>, String> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        output_of(
            Command::new(&cargo)
                .args(["metadata", "--format-version", "1", "--quiet"])
                .current_dir(project),
        )
        .map_err(|e| format!("cargo cannot resolve the merged manifests: {e}"))?;
        let lock = project.join("Cargo.lock");
        let read = || {
            std::fs::read_to_string(&lock)
                .map_err(|e| format!("{}: {e}", lock.display()))
                .and_then(|text| versions(&text))
        };
        let mut moved = Vec::new();
        for step in &self.moves {
            // Read again each time: moving one package can move others.
            let current = read()?.remove(&step.name).unwrap_or_default();
            if current.contains(&step.to) {
                moved.push(format!("{} {}", step.name, step.to));
                continue;
            }
            // The version cargo picked for the same requirement, if the project needs it.
            let Some(from) = current
                .iter()
                .find(|version| compatible(version) == compatible(&step.to))
            else {
                continue;
            };
            let spec = format!("{}@{from}", step.name);
            let done = output_of(
                Command::new(&cargo)
                    .args(["update", "--quiet", "--package", &spec])
                    .args(["--precise", &step.to])
                    .current_dir(project),
            );
            moved.push(match done {
                Ok(_) => format!("{} {from} -> {}", step.name, step.to),
                // Another requirement of the project holds it: cargo's reason, in short.
                Err(e) => format!(
                    "{} stays {from}, not {} ({})",
                    step.name,
                    step.to,
                    e.lines().next().unwrap_or_default()
                ),
            });
        }
        Ok(moved)
    }
}

/// The part of a version that semver compatibility keeps: the major, or the minor of a
/// 0.x, or the patch of a 0.0.x.
fn compatible(version: &str) -> Vec<u64> {
    let numbers: Vec<u64> = version
        .split(['.', '-', '+'])
        .take(3)
        .map(|part| part.parse().unwrap_or(0))
        .collect();
    let significant = numbers.iter().position(|&n| n != 0).unwrap_or(2);
    numbers[..=significant.min(numbers.len().saturating_sub(1))].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock(packages: &[(&str, &str)]) -> Versions {
        let text: String = packages
            .iter()
            .map(|(name, version)| {
                format!("[[package]]\nname = \"{name}\"\nversion = \"{version}\"\n\n")
            })
            .collect();
        versions(&format!("version = 4\n\n{text}")).expect("parses")
    }

    #[test]
    fn the_starters_moves_apply_where_the_team_left_the_package() {
        let base = lock(&[("base64", "0.22.1"), ("tokio", "1.54.0"), ("old", "1.0.0")]);
        let theirs = lock(&[
            ("base64", "0.22.1"),
            ("base64", "0.23.1"),
            ("tokio", "1.55.0"),
            ("new", "2.0.0"),
        ]);
        let ours = lock(&[
            ("base64", "0.22.1"),
            ("tokio", "1.56.0"),
            ("old", "1.0.0"),
            ("itoa", "1.0.19"),
        ]);
        let plan = LockPlan::new(&ours, &base, &theirs);
        let moves: Vec<_> = plan
            .moves
            .iter()
            .map(|step| format!("{} {}", step.name, step.to))
            .collect();
        assert_eq!(moves, ["base64 0.23.1", "new 2.0.0"]);
        assert_eq!(plan.kept, ["tokio"]);
    }

    #[test]
    fn compatibility_follows_semver() {
        assert_eq!(compatible("1.54.0"), compatible("1.2.3"));
        assert_ne!(compatible("0.22.1"), compatible("0.23.1"));
        assert_eq!(compatible("0.23.1"), compatible("0.23.9"));
        assert_ne!(compatible("0.0.1"), compatible("0.0.2"));
        assert_eq!(compatible("2.0.0-rc.1"), compatible("2.1.0"));
    }
}
