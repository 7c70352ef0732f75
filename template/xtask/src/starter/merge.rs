//! The three-way merge: what the starter changed between two renders of this project
//! (base, the revision it came from; theirs, the new one) applied to the project (ours),
//! file by file.
use std::collections::BTreeSet;
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How a file comes out of the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Untouched here: the starter's new version replaces it.
    Taken,
    /// Changed here and by the starter, merged line by line without a collision.
    Merged,
    /// Changed here and by the starter where they collide: conflict markers written.
    Conflicting,
    /// New in the starter.
    Added,
    /// Removed by the starter and left as rendered here: removed.
    Removed,
    /// Kept as it is here although the starter removed or changed it.
    Kept,
}

impl Kind {
    /// Every kind, in the summary's order.
    pub const ALL: [Kind; 6] = [
        Kind::Taken,
        Kind::Merged,
        Kind::Conflicting,
        Kind::Added,
        Kind::Removed,
        Kind::Kept,
    ];

    /// The word the summary uses.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Taken => "taken",
            Kind::Merged => "merged",
            Kind::Conflicting => "conflicting",
            Kind::Added => "added",
            Kind::Removed => "removed",
            Kind::Kept => "kept",
        }
    }
}

/// A file's bytes and whether it is executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub bytes: Vec<u8>,
    pub executable: bool,
}

/// What the update does to one file of the project.
#[derive(Debug)]
pub enum Write {
    Nothing,
    File(Content),
    Delete,
}

/// One file the starter changed, and what becomes of it here.
#[derive(Debug)]
pub struct Change {
    /// From the project's root.
    pub path: PathBuf,
    pub kind: Kind,
    /// Why, when the kind alone does not say it.
    pub note: &'static str,
    pub write: Write,
}

/// The names conflict markers give the three sides.
pub struct Labels {
    pub ours: String,
    pub base: String,
    pub theirs: String,
}

/// Every change of an update, planned before anything is written.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: Vec<Change>,
}

impl Plan {
    /// Compares the renders `base` and `theirs` and decides each file of `project` they
    /// name, except those in `skip`.
    pub fn new(
        project: &Path,
        base: &Path,
        theirs: &Path,
        skip: &[&str],
        labels: &Labels,
    ) -> Result<Self, String> {
        let mut paths = files(base)?;
        paths.extend(files(theirs)?);
        let mut changes = Vec::new();
        for path in paths {
            if skip.iter().any(|skipped| path == Path::new(skipped)) {
                continue;
            }
            let here = project.join(&path);
            if here.exists() && !here.is_file() {
                changes.push(Change {
                    path,
                    kind: Kind::Kept,
                    note: "not a file here",
                    write: Write::Nothing,
                });
                continue;
            }
            let sides = (
                read(&base.join(&path))?,
                read(&theirs.join(&path))?,
                read(&here)?,
            );
            if let Some((kind, note, write)) = decide(sides, labels)? {
                changes.push(Change {
                    path,
                    kind,
                    note,
                    write,
                });
            }
        }
        Ok(Self { changes })
    }

    /// The changes of one kind.
    pub fn of(&self, kind: Kind) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(move |change| change.kind == kind)
    }

    /// Whether a file was written with conflict markers (or could not be merged).
    pub fn has_conflicts(&self) -> bool {
        self.of(Kind::Conflicting).next().is_some()
    }

    /// Writes the plan into the project, `last` after every other file (the answers: they
    /// record the new revision only once the rest is written).
    pub fn apply(&self, project: &Path, last: &Path) -> Result<(), String> {
        let (first, then): (Vec<&Change>, Vec<&Change>) =
            self.changes.iter().partition(|change| change.path != last);
        for change in first.into_iter().chain(then) {
            let path = project.join(&change.path);
            match &change.write {
                Write::Nothing => {}
                Write::File(content) => write(&path, content)?,
                Write::Delete => {
                    std::fs::remove_file(&path)
                        .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                    // Folders the starter emptied go too.
                    let mut folder = path.parent();
                    while let Some(dir) = folder.filter(|dir| *dir != project) {
                        if std::fs::remove_dir(dir).is_err() {
                            break;
                        }
                        folder = dir.parent();
                    }
                }
            }
        }
        Ok(())
    }

    /// The unified diff of what `apply` would write.
    pub fn diff(&self, project: &Path) -> Result<String, String> {
        let scratch = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
        let (before, after) = (scratch.path().join("a"), scratch.path().join("b"));
        for dir in [&before, &after] {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        }
        for change in &self.changes {
            let new = match &change.write {
                Write::Nothing => continue,
                Write::File(content) => Some(content),
                Write::Delete => None,
            };
            if let Some(old) = read(&project.join(&change.path))? {
                write(&before.join(&change.path), &old)?;
            }
            if let Some(new) = new {
                write(&after.join(&change.path), new)?;
            }
        }
        let output = Command::new("git")
            .args([
                "diff",
                "--no-index",
                "--no-prefix",
                "--no-color",
                "--no-ext-diff",
            ])
            .args(["a", "b"])
            .current_dir(scratch.path())
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        // 1: there are differences.
        match output.status.code() {
            Some(0 | 1) => Ok(headers_named(&String::from_utf8_lossy(&output.stdout))),
            _ => Err(format!(
                "git diff failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )),
        }
    }
}

/// `diff --git a/x b/x` for added and removed files too, which `git diff --no-index`
/// names `b/x b/x` and `a/x a/x`.
fn headers_named(diff: &str) -> String {
    let mut out = String::with_capacity(diff.len());
    for line in diff.split_inclusive('\n') {
        let header = line
            .strip_prefix("diff --git ")
            .map(|paths| paths.trim_end_matches('\n'))
            .filter(|paths| paths.len() > 3 && paths.len() % 2 == 1)
            .map(|paths| &paths[2..paths.len() / 2]);
        match header {
            Some(path) => out.push_str(&format!("diff --git a/{path} b/{path}\n")),
            None => out.push_str(line),
        }
    }
    out
}

type Decision = (Kind, &'static str, Write);

/// What becomes of a file, from its base, theirs and ours versions (`None`: absent).
fn decide(
    sides: (Option<Content>, Option<Content>, Option<Content>),
    labels: &Labels,
) -> Result<Option<Decision>, String> {
    Ok(match sides {
        (Some(base), Some(theirs), _) if base == theirs => None,
        (_, Some(theirs), Some(ours)) if ours == theirs => None,
        (Some(base), Some(theirs), Some(ours)) if ours == base => {
            Some((Kind::Taken, "", Write::File(theirs)))
        }
        (Some(base), Some(theirs), Some(ours)) => merge(&ours, Some(&base), &theirs, labels)?,
        (Some(_), Some(_), None) => Some((
            Kind::Kept,
            "deleted here, changed by the starter: left deleted",
            Write::Nothing,
        )),
        (None, Some(theirs), None) => Some((Kind::Added, "", Write::File(theirs))),
        (None, Some(theirs), Some(ours)) => merge(&ours, None, &theirs, labels)?,
        (Some(base), None, Some(ours)) if ours == base => Some((Kind::Removed, "", Write::Delete)),
        (Some(_), None, Some(_)) => Some((
            Kind::Kept,
            "changed here, removed by the starter: kept",
            Write::Nothing,
        )),
        (_, None, None) | (None, None, Some(_)) => None,
    })
}

/// Merges the starter's change into a file changed here too, line by line.
fn merge(
    ours: &Content,
    base: Option<&Content>,
    theirs: &Content,
    labels: &Labels,
) -> Result<Option<Decision>, String> {
    let binary = |content: &Content| content.bytes.contains(&0);
    if binary(ours) || binary(theirs) || base.is_some_and(binary) {
        return Ok(Some((
            Kind::Conflicting,
            "binary, changed on both sides: left as it is here",
            Write::Nothing,
        )));
    }
    let empty = Vec::new();
    let (bytes, clean) = merge_file(
        &ours.bytes,
        base.map_or(&empty, |base| &base.bytes),
        &theirs.bytes,
        labels,
    )?;
    let executable = match base {
        Some(base) if base.executable != theirs.executable => theirs.executable,
        _ => ours.executable,
    };
    let merged = Content { bytes, executable };
    let note = if base.is_none() {
        "added here and by the starter"
    } else {
        ""
    };
    Ok(if !clean {
        Some((Kind::Conflicting, note, Write::File(merged)))
    } else if merged == *ours {
        None
    } else {
        Some((Kind::Merged, note, Write::File(merged)))
    })
}

/// `git merge-file`: the merged bytes, and whether no change collided.
fn merge_file(
    ours: &[u8],
    base: &[u8],
    theirs: &[u8],
    labels: &Labels,
) -> Result<(Vec<u8>, bool), String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let mut paths = Vec::new();
    for (name, bytes) in [("ours", ours), ("base", base), ("theirs", theirs)] {
        let path = scratch.path().join(name);
        std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        paths.push(path);
    }
    let output = Command::new("git")
        .args(["merge-file", "-p"])
        .args(["-L", &labels.ours, "-L", &labels.base, "-L", &labels.theirs])
        .args(&paths)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    // The exit status is the number of conflicts (at most 127); above that, an error.
    match output.status.code() {
        Some(0) => Ok((output.stdout, true)),
        Some(1..=127) => Ok((output.stdout, false)),
        _ => Err(format!(
            "git merge-file failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Every file below `dir`, relative to it (a render has no `.git` or `target`).
fn files(dir: &Path) -> Result<BTreeSet<PathBuf>, String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        let entries =
            std::fs::read_dir(&folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        for entry in entries {
            let path = entry
                .map_err(|e| format!("{}: {e}", folder.display()))?
                .path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if path.is_dir() {
                if name != ".git" && name != "target" {
                    pending.push(path);
                }
            } else if let Ok(relative) = path.strip_prefix(dir) {
                found.insert(relative.to_owned());
            }
        }
    }
    Ok(found)
}

/// A file's content, `None` when there is no file.
fn read(path: &Path) -> Result<Option<Content>, String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => metadata,
        Ok(_) => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Some(Content {
        bytes,
        executable: is_executable(&metadata),
    }))
}

fn write(path: &Path, content: &Content) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, &content.bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    set_executable(path, content.executable)
}

#[cfg(unix)]
fn is_executable(metadata: &Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_: &Metadata) -> bool {
    false
}

#[cfg(unix)]
fn set_executable(path: &Path, executable: bool) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let metadata = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mode = metadata.permissions().mode();
    // Executable by whoever may read it, as git checks files out.
    let wanted = if executable {
        mode | ((mode & 0o444) >> 2)
    } else {
        mode & !0o111
    };
    if wanted != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_: &Path, _: bool) -> Result<(), String> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        Labels {
            ours: "this project".into(),
            base: "starter v1".into(),
            theirs: "starter v2".into(),
        }
    }

    fn text(text: &str) -> Option<Content> {
        Some(Content {
            bytes: text.as_bytes().to_vec(),
            executable: false,
        })
    }

    fn kind(base: Option<Content>, theirs: Option<Content>, ours: Option<Content>) -> Option<Kind> {
        decide((base, theirs, ours), &labels())
            .expect("decides")
            .map(|(kind, _, _)| kind)
    }

    #[test]
    fn each_case_gets_its_kind() {
        let (a, b, c) = (text("a\n"), text("b\n"), text("c\n"));
        // The starter did not change it, whatever happened here.
        assert_eq!(kind(a.clone(), a.clone(), c.clone()), None);
        assert_eq!(kind(a.clone(), a.clone(), None), None);
        // Untouched here: the new version.
        assert_eq!(kind(a.clone(), b.clone(), a.clone()), Some(Kind::Taken));
        // Already as the starter has it.
        assert_eq!(kind(a.clone(), b.clone(), b.clone()), None);
        // Both changed the one line.
        assert_eq!(
            kind(a.clone(), b.clone(), c.clone()),
            Some(Kind::Conflicting)
        );
        assert_eq!(kind(a.clone(), b.clone(), None), Some(Kind::Kept));
        assert_eq!(kind(None, b.clone(), None), Some(Kind::Added));
        assert_eq!(kind(None, b.clone(), c.clone()), Some(Kind::Conflicting));
        assert_eq!(kind(a.clone(), None, a.clone()), Some(Kind::Removed));
        assert_eq!(kind(a.clone(), None, c.clone()), Some(Kind::Kept));
        assert_eq!(kind(a, None, None), None);
    }

    #[test]
    fn changes_in_different_places_merge_and_collisions_are_marked() {
        let base = text("one\ntwo\nthree\nfour\nfive\n");
        let theirs = text("one\ntwo\nthree\nfour\nFIVE\n");
        let ours = text("ONE\ntwo\nthree\nfour\nfive\n");
        let (kind, _, write) = decide((base.clone(), theirs, ours), &labels())
            .expect("decides")
            .expect("a change");
        assert_eq!(kind, Kind::Merged);
        let Write::File(merged) = write else {
            panic!("writes the merge")
        };
        assert_eq!(merged.bytes, b"ONE\ntwo\nthree\nfour\nFIVE\n");

        let theirs = text("uno\ntwo\nthree\nfour\nfive\n");
        let ours = text("ONE\ntwo\nthree\nfour\nfive\n");
        let (kind, _, write) = decide((base, theirs, ours), &labels())
            .expect("decides")
            .expect("a change");
        assert_eq!(kind, Kind::Conflicting);
        let Write::File(merged) = write else {
            panic!("writes the markers")
        };
        let merged = String::from_utf8(merged.bytes).expect("text");
        assert!(
            merged.starts_with("<<<<<<< this project\nONE\n=======\nuno\n>>>>>>> starter v2\n"),
            "{merged}"
        );
    }

    #[test]
    fn binary_files_changed_on_both_sides_are_left_alone() {
        let binary = |byte: u8| {
            Some(Content {
                bytes: vec![0, byte],
                executable: false,
            })
        };
        let decision = decide((binary(1), binary(2), binary(3)), &labels())
            .expect("decides")
            .expect("a change");
        assert!(matches!(decision, (Kind::Conflicting, _, Write::Nothing)));
    }

    #[test]
    fn a_plan_applies_and_diffs() {
        let root = tempfile::tempdir().expect("temp dir");
        let [project, base, theirs] =
            ["project", "base", "theirs"].map(|name| root.path().join(name));
        let put = |dir: &Path, path: &str, text: &str| {
            write(
                &dir.join(path),
                &Content {
                    bytes: text.as_bytes().to_vec(),
                    executable: false,
                },
            )
            .expect("write");
        };
        for dir in [&project, &base] {
            put(dir, "same.txt", "same\n");
            put(dir, "gone/old.txt", "old\n");
            put(dir, "Cargo.lock", "base\n");
        }
        put(&theirs, "same.txt", "new\n");
        put(&theirs, "new.txt", "added\n");
        put(&theirs, "Cargo.lock", "theirs\n");
        put(&project, "mine.txt", "the team's\n");

        let plan = Plan::new(&project, &base, &theirs, &["Cargo.lock"], &labels()).expect("plans");
        let kinds: Vec<_> = plan
            .changes
            .iter()
            .map(|change| (change.path.display().to_string(), change.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("gone/old.txt".to_owned(), Kind::Removed),
                ("new.txt".to_owned(), Kind::Added),
                ("same.txt".to_owned(), Kind::Taken),
            ]
        );
        let diff = plan.diff(&project).expect("diffs");
        assert!(diff.contains("--- a/same.txt\n+++ b/same.txt"), "{diff}");
        assert!(diff.contains("+++ b/new.txt"), "{diff}");
        assert!(diff.contains("--- a/gone/old.txt"), "{diff}");
        assert!(diff.contains("diff --git a/new.txt b/new.txt\n"), "{diff}");
        assert!(
            diff.contains("diff --git a/gone/old.txt b/gone/old.txt\n"),
            "{diff}"
        );
        assert_eq!(
            std::fs::read_to_string(project.join("same.txt")).unwrap(),
            "same\n"
        );

        plan.apply(&project, Path::new("same.txt"))
            .expect("applies");
        assert_eq!(
            std::fs::read_to_string(project.join("same.txt")).unwrap(),
            "new\n"
        );
        assert_eq!(
            std::fs::read_to_string(project.join("new.txt")).unwrap(),
            "added\n"
        );
        assert!(!project.join("gone").exists(), "the emptied folder goes");
        assert_eq!(
            std::fs::read_to_string(project.join("Cargo.lock")).unwrap(),
            "base\n"
        );
        assert_eq!(
            std::fs::read_to_string(project.join("mine.txt")).unwrap(),
            "the team's\n"
        );
    }
}
