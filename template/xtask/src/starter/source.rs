//! The starter's repository: a clone of the recorded source, its revisions, and renders of
//! them with this project's answers.
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::answers::{self, Answers};
use super::{output_of, succeed};

/// The folder of the starter repository that cargo-generate renders.
const TEMPLATE: &str = "template";

/// A revision of the starter.
#[derive(Debug, Clone)]
pub struct Revision {
    /// What `.starter/answers.toml` records: a release tag, or a commit.
    pub record: String,
    /// The commit it names.
    pub commit: String,
}

impl Revision {
    /// The tag, or the commit shortened.
    pub fn label(&self) -> String {
        if self.record.is_empty() || self.record == self.commit {
            self.commit.chars().take(12).collect()
        } else {
            self.record.clone()
        }
    }
}

/// A release's version, compared numerically.
pub type Version = (u64, u64, u64);

/// Where the rendered answers come from, in the starter.
const ANSWERS: &str = "template/.starter/answers.toml.liquid";

/// A release version `vX.Y.Z`, compared numerically.
pub fn release(tag: &str) -> Option<Version> {
    let mut parts = tag.strip_prefix('v')?.split('.');
    let mut next = || parts.next()?.parse::<u64>().ok();
    let version = (next()?, next()?, next()?);
    parts.next().is_none().then_some(version)
}

/// A clone of the starter in a scratch folder.
pub struct Starter {
    dir: PathBuf,
}

impl Starter {
    /// Clones `location` (a folder or a URL) into `into`, without checking anything out.
    /// `--` and the protocols allowed keep the location a location: never an option, never
    /// a command (`ext::`).
    pub fn clone(location: &str, into: &Path) -> Result<Self, String> {
        succeed(
            Command::new("git")
                .env("GIT_ALLOW_PROTOCOL", answers::PROTOCOLS)
                .args(["clone", "--quiet", "--no-checkout", "--", location])
                .arg(into),
        )
        .map_err(|e| format!("cannot clone the starter from {location}: {e}"))?;
        Ok(Self {
            dir: into.to_owned(),
        })
    }

    fn git<I, S>(&self, args: I) -> Result<String, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        output_of(Command::new("git").arg("-C").arg(&self.dir).args(args))
    }

    fn commit_of(&self, name: &str) -> Option<String> {
        self.git([
            "rev-parse",
            "--verify",
            "--quiet",
            // `NAME^{commit}`: the commit a tag or a branch names.
            &format!("{name}^{}", "{commit}"),
        ])
        .ok()
    }

    /// The revision `name` names: a tag (recorded as the tag), or a commit or branch
    /// (recorded as the commit, since branches move).
    pub fn resolve(&self, name: &str) -> Result<Revision, String> {
        answers::check_revision(name, "the revision")?;
        if let Some(commit) = self.commit_of(&format!("refs/tags/{name}")) {
            return Ok(Revision {
                record: name.to_owned(),
                commit,
            });
        }
        let commit = self
            .commit_of(name)
            .or_else(|| self.commit_of(&format!("refs/remotes/origin/{name}")))
            .ok_or_else(|| format!("the starter has no tag, branch or commit {name:?}"))?;
        Ok(Revision {
            record: commit.clone(),
            commit,
        })
    }

    /// The revision this project was rendered from: the recorded one, or the release its
    /// version names when none was recorded. The record stays as it was, so that the
    /// render reproduces the project's files.
    pub fn recorded(&self, answers: &Answers) -> Result<Revision, String> {
        let name = match answers.checked_revision()? {
            "" => format!("v{}", answers.version),
            revision => revision.to_owned(),
        };
        let revision = self.resolve(&name).map_err(|e| {
            format!("cannot find the revision this project came from ({e}); set `revision` in .starter/answers.toml")
        })?;
        Ok(Revision {
            record: answers.revision.clone(),
            ..revision
        })
    }

    /// The release tags `vX.Y.Z`, oldest first.
    pub fn releases(&self) -> Result<Vec<(Version, String)>, String> {
        let tags = self.git(["tag", "--list", "v*"])?;
        let mut releases: Vec<(Version, String)> = tags
            .lines()
            .filter_map(|tag| Some((release(tag)?, tag.to_owned())))
            .collect();
        releases.sort();
        Ok(releases)
    }

    /// The newest release tag `vX.Y.Z`.
    pub fn newest_release(&self) -> Result<Revision, String> {
        let releases = self.releases()?;
        let (_, newest) = releases
            .last()
            .ok_or("the starter has no release tag vX.Y.Z yet: pass --to REF")?;
        self.resolve(newest)
    }

    /// The starter's version at `revision`: its tag's, or what its files say.
    pub fn version_at(&self, revision: &Revision) -> Option<Version> {
        release(&revision.record).or_else(|| {
            let text = self.show(revision, ANSWERS)?;
            let document: toml_edit::DocumentMut = text.parse().ok()?;
            let version = document.get("template")?.get("version")?.as_str()?;
            release(&format!("v{version}"))
        })
    }

    /// The text of file `path` of the starter at `revision`, if it has one.
    pub fn show(&self, revision: &Revision, path: &str) -> Option<String> {
        self.git(["show", &format!("{}:{path}", revision.commit)])
            .ok()
    }

    /// Whether `ancestor` is `commit` or comes before it.
    pub fn is_ancestor(&self, ancestor: &str, commit: &str) -> bool {
        self.git(["merge-base", "--is-ancestor", ancestor, commit])
            .is_ok()
    }

    /// Whether the cargo-generate that renders can be run at all.
    pub fn can_render() -> bool {
        Command::new(renderer())
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
    }

    /// Renders `revision` with the project's answers into `into`, with the cargo-generate
    /// the starter's README installs; returns the rendered project's folder.
    pub fn render(
        &self,
        revision: &Revision,
        answers: &Answers,
        into: &Path,
    ) -> Result<PathBuf, String> {
        self.git([
            "checkout",
            "--quiet",
            "--force",
            "--detach",
            &revision.commit,
        ])?;
        std::fs::create_dir_all(into).map_err(|e| format!("{}: {e}", into.display()))?;
        let program = renderer();
        let mut command = Command::new(&program);
        command
            .arg("generate")
            .arg("--path")
            .arg(&self.dir)
            .arg(TEMPLATE)
            // `--name=`: a name is never read as an option.
            .arg(format!("--name={}", answers.project_name))
            .arg("--values-file")
            .arg(&answers.path)
            .arg("--define")
            .arg(format!("starter_source={}", answers.source))
            .arg("--define")
            .arg(format!("starter_revision={}", revision.record))
            .args([
                "--silent",
                "--vcs",
                "none",
                "--no-workspace",
                "--destination",
            ])
            .arg(into);
        // Values from the environment would make the render differ from the project's.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_GENERATE_VALUE_")
                || name == "CARGO_GENERATE_TEMPLATE_VALUES_FILE"
            {
                command.env_remove(name.as_ref());
            }
        }
        succeed(&mut command).map_err(|e| {
            format!(
                "cannot render the starter's {} with {}: {e}\n(install it as the starter's README says: \
                 cargo install --locked --path tools/cargo-generate)",
                revision.label(),
                Path::new(&program).display()
            )
        })?;
        let mut folders = std::fs::read_dir(into)
            .map_err(|e| format!("{}: {e}", into.display()))?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.is_dir());
        match (folders.next(), folders.next()) {
            (Some(folder), None) => Ok(folder),
            _ => Err(format!(
                "rendering the starter's {} left no single project folder in {}",
                revision.label(),
                into.display()
            )),
        }
    }
}

/// The cargo-generate program: `$CARGO_GENERATE`, else the one on the PATH.
fn renderer() -> std::ffi::OsString {
    std::env::var_os("CARGO_GENERATE").unwrap_or_else(|| "cargo-generate".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_are_vx_y_z_tags_compared_by_number() {
        assert_eq!(release("v0.10.2"), Some((0, 10, 2)));
        assert!(release("v0.10.0") > release("v0.9.9"));
        for tag in [
            "0.1.0",
            "v1.2",
            "v1.2.3-rc.1",
            "v1.2.3.4",
            "vx.1.2",
            "latest",
        ] {
            assert_eq!(release(tag), None, "{tag}");
        }
    }

    #[test]
    fn commits_are_labelled_short_and_tags_as_they_are() {
        let commit = "0123456789abcdef0123456789abcdef01234567".to_owned();
        let tagged = Revision {
            record: "v0.2.0".into(),
            commit: commit.clone(),
        };
        assert_eq!(tagged.label(), "v0.2.0");
        let bare = Revision {
            record: commit.clone(),
            commit,
        };
        assert_eq!(bare.label(), "0123456789ab");
    }
}
