//! A plan: every file a command creates or changes, worked out (and formatted) before
//! anything is written. Bad input fails while planning, so it writes nothing; a failure
//! while writing puts back what was written.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One file's new content, and its content before (none for a new file).
pub struct Change {
    /// Relative to the project, with `/`.
    pub path: String,
    pub before: Option<String>,
    pub after: String,
}

/// What a command will write.
pub struct Plan {
    root: PathBuf,
    changes: Vec<Change>,
}

impl Plan {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
            changes: Vec::new(),
        }
    }

    /// Whether `path` exists, on disk or planned.
    pub fn exists(&self, path: &str) -> bool {
        self.root.join(path).exists() || self.changes.iter().any(|change| change.path == path)
    }

    fn planned(&mut self, path: &str) -> Option<&mut Change> {
        self.changes.iter_mut().find(|change| change.path == path)
    }

    /// Plans a new file; refuses a path that exists.
    pub fn create(&mut self, path: &str, text: String) -> Result<(), String> {
        if self.exists(path) {
            return Err(format!("{path} exists already"));
        }
        self.changes.push(Change {
            path: path.to_owned(),
            before: None,
            after: text,
        });
        Ok(())
    }

    /// Plans a change of an existing (or already planned) file: `edit` gets its text and
    /// returns the new one, or why it cannot.
    pub fn edit(
        &mut self,
        path: &str,
        edit: impl FnOnce(&str) -> Result<String, String>,
    ) -> Result<(), String> {
        if let Some(change) = self.planned(path) {
            change.after = edit(&change.after)?;
            return Ok(());
        }
        let before = std::fs::read_to_string(self.root.join(path))
            .map_err(|e| format!("cannot read {path}: {e}"))?;
        let after = edit(&before)?;
        self.changes.push(Change {
            path: path.to_owned(),
            before: Some(before),
            after,
        });
        Ok(())
    }

    /// Runs rustfmt on every Rust file of the plan, so that what is written passes
    /// `cargo fmt --check` as it is.
    pub fn format(&mut self) -> Result<(), String> {
        for change in &mut self.changes {
            if change.path.ends_with(".rs") {
                change.after = rustfmt(&self.root, &change.path, &change.after)?;
            }
        }
        Ok(())
    }

    /// The plan, one line per file.
    pub fn summary(&self, verb_new: &str, verb_changed: &str) -> String {
        self.changes
            .iter()
            .map(|change| {
                let verb = if change.before.is_some() {
                    verb_changed
                } else {
                    verb_new
                };
                format!("  {verb:<8} {}\n", change.path)
            })
            .collect()
    }

    /// Every change planned, for tests.
    #[cfg(test)]
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// The text planned for `path`, for tests.
    #[cfg(test)]
    pub fn text(&self, path: &str) -> Option<&str> {
        self.changes
            .iter()
            .find(|change| change.path == path)
            .map(|change| change.after.as_str())
    }

    /// Writes the plan. A file changed on disk since it was planned stops it before
    /// anything is written; an error while writing undoes what was written.
    pub fn apply(self) -> Result<(), String> {
        for change in &self.changes {
            let path = self.root.join(&change.path);
            let now = std::fs::read_to_string(&path).ok();
            if now != change.before {
                return Err(format!("{} changed while planning; run again", change.path));
            }
        }
        let mut done: Vec<&Change> = Vec::new();
        for change in &self.changes {
            if let Err(error) = write(&self.root.join(&change.path), &change.after) {
                for undo in done.iter().rev() {
                    let path = self.root.join(&undo.path);
                    let _ = match &undo.before {
                        Some(before) => std::fs::write(&path, before),
                        None => std::fs::remove_file(&path),
                    };
                }
                return Err(format!(
                    "cannot write {}: {error}; nothing was changed",
                    change.path
                ));
            }
            done.push(change);
        }
        Ok(())
    }
}

/// Writes through a temporary file renamed into place, so no file is left half written.
fn write(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".xtask-new");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&temporary);
    })
}

/// `text` as `rustfmt --edition 2024` formats it (the project's `rustfmt.toml`, if any,
/// applies: rustfmt runs in the project's folder).
fn rustfmt(root: &Path, path: &str, text: &str) -> Result<String, String> {
    let program = std::env::var_os("RUSTFMT").unwrap_or_else(|| "rustfmt".into());
    let mut child = Command::new(&program)
        .args(["--edition", "2024", "--emit", "stdout"])
        .current_dir(root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("cannot run rustfmt ({e}); install it with `rustup component add rustfmt`")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("rustfmt: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("failed");
        return Err(format!("rustfmt cannot format the planned {path}: {first}"));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_writes_new_and_changed_files_formatted() {
        let dir = std::env::temp_dir().join(format!("xtask-plan-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src")).expect("dir");
        std::fs::write(dir.join("src/lib.rs"), "pub mod a;\n").expect("write");
        let mut plan = Plan::new(&dir);

        plan.create("src/b.rs", "pub fn b()->u8{1}".into())
            .expect("planned");
        plan.edit("src/lib.rs", |text| Ok(text.to_owned() + "pub mod b;\n"))
            .expect("planned");
        assert!(plan.create("src/lib.rs", String::new()).is_err(), "exists");
        plan.format().expect("formats");
        assert!(
            plan.summary("new", "changed")
                .contains("changed  src/lib.rs")
        );
        plan.apply().expect("written");

        let b = std::fs::read_to_string(dir.join("src/b.rs")).expect("read");
        assert_eq!(b, "pub fn b() -> u8 {\n    1\n}\n");
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).expect("read");
        assert_eq!(lib, "pub mod a;\npub mod b;\n");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn code_rustfmt_cannot_parse_is_refused_before_writing() {
        let dir = std::env::temp_dir().join(format!("xtask-plan-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut plan = Plan::new(&dir);
        plan.create("bad.rs", "fn (".into()).expect("planned");
        let error = plan.format().unwrap_err();
        assert!(error.contains("bad.rs"), "{error}");
        assert!(!dir.join("bad.rs").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
