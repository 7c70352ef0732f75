//! The three-way merge: what the starter changed between two renders of this project
//! (base, the revision it came from; theirs, the new one) applied to the project (ours),
//! file by file. A file the starter moved is followed: the team's changes to it are merged
//! into it at its new place.
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
    pub note: String,
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
        let skipped = |path: &Path| skip.iter().any(|skipped| path == Path::new(skipped));
        let mut paths = files(base)?;
        paths.extend(files(theirs)?);
        paths.retain(|path| !skipped(path));
        let mut changes = Vec::new();
        for (from, to) in moves(base, theirs)? {
            if skipped(&from) || skipped(&to) {
                continue;
            }
            if let Some(pair) = follow(project, base, theirs, &from, &to, labels)? {
                paths.remove(&from);
                paths.remove(&to);
                changes.extend(pair);
            }
        }
        for path in paths {
            let here = project.join(&path);
            if here.exists() && !here.is_file() {
                changes.push(Change {
                    path,
                    kind: Kind::Kept,
                    note: "not a file here".into(),
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
                    note: note.into(),
                    write,
                });
            }
        }
        changes.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Self { changes })
    }

    /// The changes of one kind.
    pub fn of(&self, kind: Kind) -> impl Iterator<Item = &Change> {
        self.changes
            .iter()
            .filter(move |change| change.kind == kind)
    }

    /// Whether a `Cargo.toml` changes (of `kind`, or of any kind).
    pub fn touches_manifests(&self, kind: Option<Kind>) -> bool {
        self.changes.iter().any(|change| {
            change
                .path
                .file_name()
                .is_some_and(|name| name == "Cargo.toml")
                && !matches!(change.write, Write::Nothing)
                && kind.is_none_or(|kind| change.kind == kind)
        })
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

/// Decides a file the starter moved from `from` to `to`: the team's version of `from`,
/// merged with the starter's change, goes to `to`, and `from` goes. `None` when the move
/// cannot be followed (the team has a file at `to` already, or `from` is not a file here):
/// both paths are then decided on their own.
fn follow(
    project: &Path,
    base: &Path,
    theirs: &Path,
    from: &Path,
    to: &Path,
    labels: &Labels,
) -> Result<Option<[Change; 2]>, String> {
    let (old, new) = (project.join(from), project.join(to));
    if new.exists() || (old.exists() && !old.is_file()) {
        return Ok(None);
    }
    let (Some(base_file), Some(their_file)) = (read(&base.join(from))?, read(&theirs.join(to))?)
    else {
        return Ok(None);
    };
    let (from_shown, to_shown) = (from.display(), to.display());
    let Some(ours) = read(&old)? else {
        return Ok(Some([
            Change {
                path: from.to_owned(),
                kind: Kind::Kept,
                note: format!("deleted or moved here; the starter moved it to {to_shown}"),
                write: Write::Nothing,
            },
            Change {
                path: to.to_owned(),
                kind: Kind::Kept,
                note: format!(
                    "the starter's new place of {from_shown}, which is gone here: not added \
                     (if you moved it, compare it with the starter's)"
                ),
                write: Write::Nothing,
            },
        ]));
    };
    let (kind, write, followed) = if ours == base_file {
        (Kind::Taken, Write::File(their_file), "")
    } else {
        match merge(&ours, Some(&base_file), &their_file, labels)? {
            Some((kind, _, write @ Write::File(_))) => (kind, write, ": your changes followed"),
            // Merged, the team's file is the starter's moved one already.
            None => (Kind::Merged, Write::File(ours), ": your changes followed"),
            // A binary file changed on both sides: nothing written, the move is the team's.
            Some(_) => {
                return Ok(Some([
                    Change {
                        path: from.to_owned(),
                        kind: Kind::Conflicting,
                        note: format!(
                            "binary, changed here and moved by the starter to {to_shown}: \
                             move it and merge by hand"
                        ),
                        write: Write::Nothing,
                    },
                    Change {
                        path: to.to_owned(),
                        kind: Kind::Kept,
                        note: format!("the starter's new place of {from_shown}: not added"),
                        write: Write::Nothing,
                    },
                ]));
            }
        }
    };
    Ok(Some([
        Change {
            path: from.to_owned(),
            kind: Kind::Removed,
            note: format!("moved by the starter to {to_shown}"),
            write: Write::Delete,
        },
        Change {
            path: to.to_owned(),
            kind,
            note: format!("moved from {from_shown}{followed}"),
            write,
        },
    ]))
}

/// The files the starter moved between the renders `base` and `theirs` (renamed, perhaps
/// changed a little), as git's rename detection pairs them: `(from, to)`.
fn moves(base: &Path, theirs: &Path) -> Result<Vec<(PathBuf, PathBuf)>, String> {
    let output = Command::new("git")
        .args([
            "diff",
            "--no-index",
            "--no-ext-diff",
            "--no-color",
            "--find-renames",
            "--name-status",
            "-z",
        ])
        .arg(base)
        .arg(theirs)
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    // 1: there are differences.
    if !matches!(output.status.code(), Some(0 | 1)) {
        return Err(format!(
            "git diff failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let fields: Vec<&[u8]> = output.stdout.split(|&byte| byte == 0).collect();
    let relative = |field: &[u8], dir: &Path| -> Option<PathBuf> {
        let path = PathBuf::from(String::from_utf8_lossy(field).into_owned());
        Some(path.strip_prefix(dir).ok()?.to_owned())
    };
    let mut found = Vec::new();
    let mut at = 0;
    while at < fields.len() {
        let status = fields[at];
        if status.first() == Some(&b'R') {
            let pair = fields.get(at + 1).zip(fields.get(at + 2));
            if let Some((from, to)) =
                pair.and_then(|(from, to)| Some((relative(from, base)?, relative(to, theirs)?)))
            {
                found.push((from, to));
            }
            at += 3;
        } else if status.is_empty() {
            at += 1;
        } else {
            at += 2;
        }
    }
    Ok(found)
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
    // `--diff3`: each conflict shows the starter's old lines too, and whole blocks: two
    // blocks added at one place (a resource registered by each side) stay whole on each
    // side, rather than sharing their common last lines outside the markers.
    let output = Command::new("git")
        .args(["merge-file", "-p", "--diff3"])
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
            merged.starts_with(
                "<<<<<<< this project\nONE\n||||||| starter v1\none\n=======\nuno\n>>>>>>> starter v2\n"
            ),
            "{merged}"
        );
    }

    #[test]
    fn blocks_added_at_one_place_by_both_sides_stay_whole() {
        let base = text("a();\n// marker\n");
        let ours = text("a();\nroutes(\n    invoices,\n)\n// marker\n");
        let theirs = text("a();\nroutes(\n    webhooks,\n)\n// marker\n");
        let (kind, _, write) = decide((base, theirs, ours), &labels())
            .expect("decides")
            .expect("a change");
        assert_eq!(kind, Kind::Conflicting);
        let Write::File(merged) = write else {
            panic!("writes the markers")
        };
        // Keeping both sides gives two whole blocks, not one sharing the other's `)`.
        assert_eq!(
            String::from_utf8(merged.bytes).expect("text"),
            "a();\n<<<<<<< this project\nroutes(\n    invoices,\n)\n||||||| starter v1\n\
             =======\nroutes(\n    webhooks,\n)\n>>>>>>> starter v2\n// marker\n"
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

    /// Ten lines, enough for git to see a moved file as the same file.
    const LINES: &str = "one\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\nten\n";

    fn put(dir: &Path, path: &str, text: &str) {
        write(
            &dir.join(path),
            &Content {
                bytes: text.as_bytes().to_vec(),
                executable: false,
            },
        )
        .expect("write");
    }

    fn summary(plan: &Plan) -> Vec<(String, Kind, String)> {
        plan.changes
            .iter()
            .map(|change| {
                let path = change.path.display().to_string();
                (path, change.kind, change.note.clone())
            })
            .collect()
    }

    #[test]
    fn a_file_the_starter_moved_takes_the_teams_changes_along() {
        // (The summary lists paths as a path sorts: a folder `x/` before the file `x.rs`.)
        let root = tempfile::tempdir().expect("temp dir");
        let [project, base, theirs] =
            ["project", "base", "theirs"].map(|name| root.path().join(name));
        put(&base, "src/views.rs", LINES);
        put(&base, "src/left.rs", LINES);
        put(&base, "src/gone.rs", LINES);
        // The starter moves all three and changes the last line of one.
        put(&theirs, "src/views/mod.rs", &LINES.replace("ten", "TEN"));
        put(&theirs, "src/left/mod.rs", LINES);
        put(&theirs, "src/gone/mod.rs", LINES);
        // The team changed the first line of one, left one as it was, deleted one.
        put(&project, "src/views.rs", &LINES.replace("one", "ONE"));
        put(&project, "src/left.rs", LINES);

        let plan = Plan::new(&project, &base, &theirs, &[], &labels()).expect("plans");
        assert_eq!(
            summary(&plan),
            [
                (
                    "src/gone/mod.rs".into(),
                    Kind::Kept,
                    "the starter's new place of src/gone.rs, which is gone here: not added (if \
                     you moved it, compare it with the starter's)"
                        .into()
                ),
                (
                    "src/gone.rs".into(),
                    Kind::Kept,
                    "deleted or moved here; the starter moved it to src/gone/mod.rs".into()
                ),
                (
                    "src/left/mod.rs".into(),
                    Kind::Taken,
                    "moved from src/left.rs".into()
                ),
                (
                    "src/left.rs".into(),
                    Kind::Removed,
                    "moved by the starter to src/left/mod.rs".into()
                ),
                (
                    "src/views/mod.rs".into(),
                    Kind::Merged,
                    "moved from src/views.rs: your changes followed".into()
                ),
                (
                    "src/views.rs".into(),
                    Kind::Removed,
                    "moved by the starter to src/views/mod.rs".into()
                ),
            ]
        );
        plan.apply(&project, Path::new("none")).expect("applies");
        assert!(!project.join("src/views.rs").exists());
        assert!(!project.join("src/left.rs").exists());
        assert!(!project.join("src/gone").exists());
        assert_eq!(
            std::fs::read_to_string(project.join("src/views/mod.rs")).unwrap(),
            LINES.replace("one", "ONE").replace("ten", "TEN")
        );
        assert_eq!(
            std::fs::read_to_string(project.join("src/left/mod.rs")).unwrap(),
            LINES
        );
    }

    #[test]
    fn a_move_is_not_followed_onto_a_file_the_team_has() {
        let root = tempfile::tempdir().expect("temp dir");
        let [project, base, theirs] =
            ["project", "base", "theirs"].map(|name| root.path().join(name));
        put(&base, "old.txt", LINES);
        put(&theirs, "new.txt", LINES);
        put(&project, "old.txt", &LINES.replace("one", "ONE"));
        put(&project, "new.txt", "the team's own\n");
        let plan = Plan::new(&project, &base, &theirs, &[], &labels()).expect("plans");
        let kinds: Vec<_> = summary(&plan)
            .into_iter()
            .map(|(path, kind, _)| (path, kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("new.txt".into(), Kind::Conflicting),
                ("old.txt".into(), Kind::Kept)
            ]
        );
    }
}
