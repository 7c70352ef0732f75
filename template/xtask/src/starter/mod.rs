//! `cargo xtask starter update` and `starter check`: take in the starter's later releases
//! as copier and cruft do for Python templates. The revision this project came from and the
//! new one are rendered with the recorded answers (`.starter/answers.toml`), and the
//! difference between the two renders is merged into the project, three ways, file by
//! file; the starter's release notes (`CHANGELOG.md`) for the releases in between are
//! shown. See "Keeping up to date" in the README.
use std::path::Path;
use std::process::{Command as Process, ExitCode};

use clap::Subcommand;

mod answers;
mod lock;
mod merge;
mod notes;
mod source;

use answers::Answers;
use lock::LockPlan;
use merge::{Kind, Labels, Plan};
use source::{Revision, Starter};

/// The lock file, which cargo settles rather than the merge.
const LOCK: &str = "Cargo.lock";

/// `cargo xtask starter ...`
#[derive(Subcommand)]
pub enum Command {
    /// Merges a newer release of the starter into this project (a clean git work tree is
    /// required); exits with 1 when conflicts are left to resolve.
    Update {
        /// The starter revision to move to: a release tag (v0.2.0), a branch or a commit.
        /// Default: the newest release tag vX.Y.Z.
        #[arg(long, value_name = "REF")]
        to: Option<String>,
        /// Print what would change, and the diff, and write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Says where this project stands: its starter revision, the newest release, what an
    /// update would touch and the release notes in between. Writes nothing; exits with 1
    /// when the project is behind.
    Check {
        /// The starter revision to compare with. Default: the newest release tag vX.Y.Z.
        #[arg(long, value_name = "REF")]
        to: Option<String>,
        /// Exit with 0 even when the project is behind (to report, as the CI does).
        #[arg(long)]
        exit_zero: bool,
    },
}

/// Runs a `starter` command: 0 when done (or up to date), 1 when conflicts are left (or,
/// for `check`, when the project is behind), 2 when refused.
pub fn run(command: Command) -> ExitCode {
    // xtask/ is a folder of the project's root.
    let project = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let result = match command {
        Command::Update { to, dry_run } => update(project, to.as_deref(), dry_run),
        Command::Check { to, exit_zero } => {
            check(project, to.as_deref()).map(|behind| behind && !exit_zero)
        }
    };
    match result {
        Ok(false) => ExitCode::SUCCESS,
        Ok(true) => ExitCode::from(1),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// The starter cloned, and the two revisions an update goes between.
struct Standing {
    answers: Answers,
    location: String,
    scratch: tempfile::TempDir,
    starter: Starter,
    from: Revision,
    target: Revision,
    /// Whether the target is the default one (the newest release), not one asked for.
    newest: bool,
}

impl Standing {
    /// Clones the starter the project names and finds both revisions.
    fn find(project: &Path, to: Option<&str>) -> Result<Self, String> {
        let answers = Answers::read(project)?;
        let location = answers.location(project)?;
        let scratch = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
        let starter = Starter::clone(&location, &scratch.path().join("starter"))?;
        let from = starter.recorded(&answers)?;
        let target = match to {
            Some(name) => starter.resolve(name)?,
            None => starter.newest_release()?,
        };
        Ok(Self {
            answers,
            location,
            scratch,
            starter,
            from,
            target,
            newest: to.is_none(),
        })
    }

    /// Why there is nothing to take in, if there is nothing: the project is at the target,
    /// or past the newest release.
    fn up_to_date(&self) -> Option<String> {
        if self.target.commit == self.from.commit {
            return Some(format!(
                "Already up to date: this project is at the starter's {} ({}). Nothing to do.",
                self.target.label(),
                self.location
            ));
        }
        if self.newest
            && self
                .starter
                .is_ancestor(&self.target.commit, &self.from.commit)
        {
            return Some(format!(
                "Already up to date: this project is at the starter's {}, after its newest \
                 release {}. Nothing to do (pass --to REF to move to another revision).",
                self.from.label(),
                self.target.label()
            ));
        }
        None
    }

    /// Renders both revisions with the project's answers and plans the merge.
    fn plan(&self, project: &Path) -> Result<Update, String> {
        let scratch = self.scratch.path();
        let base = (self.starter).render(&self.from, &self.answers, &scratch.join("base"))?;
        let theirs = (self.starter).render(&self.target, &self.answers, &scratch.join("theirs"))?;
        let labels = Labels {
            ours: "this project".into(),
            base: format!("starter {}", self.from.label()),
            theirs: format!("starter {}", self.target.label()),
        };
        let plan = Plan::new(project, &base, &theirs, &[LOCK], &labels)?;
        let (base_lock, their_lock) = (read_lock(&base)?, read_lock(&theirs)?);
        let lock_plan = LockPlan::new(&read_lock(project)?, &base_lock, &their_lock);
        let lock_to_settle = base_lock != their_lock || plan.touches_manifests(None);
        Ok(Update {
            plan,
            lock_plan,
            lock_to_settle,
        })
    }

    /// The release notes between the project's revision and the target, ready to print
    /// (empty when there are none).
    fn notes(&self) -> String {
        let Some(changelog) = self.starter.show(&self.target, notes::FILE) else {
            return format!(
                "\nThe starter has no {} at {}: no release notes to show.\n",
                notes::FILE,
                self.target.label()
            );
        };
        let from = source::release(&self.answers.revision)
            .or_else(|| source::release(&format!("v{}", self.answers.version)));
        let to = self.starter.version_at(&self.target);
        let unreleased = source::release(&self.target.record).is_none();
        let sections = notes::between(&changelog, from, to, unreleased);
        if sections.is_empty() {
            return String::new();
        }
        let mut text = format!(
            "\nRelease notes from the starter's {} (oldest first; do what their \"By hand\" \
             parts say: the update does not):\n",
            notes::FILE
        );
        for section in sections {
            text.push('\n');
            text.push_str(&section.text);
        }
        text
    }
}

/// What an update would write.
struct Update {
    plan: Plan,
    lock_plan: LockPlan,
    /// Whether `Cargo.lock` must be resolved again (the starter moved a dependency, or a
    /// manifest changes).
    lock_to_settle: bool,
}

/// Updates `project` to the starter's `to` (the newest release by default); returns
/// whether conflicts are left.
fn update(project: &Path, to: Option<&str>, dry_run: bool) -> Result<bool, String> {
    require_clean(project)?;
    let standing = Standing::find(project, to)?;
    if let Some(why) = standing.up_to_date() {
        println!("{why}");
        return Ok(false);
    }
    println!(
        "Updating from the starter's {} to {} ({}){}",
        standing.from.label(),
        standing.target.label(),
        standing.location,
        if dry_run {
            ": dry run, nothing is written"
        } else {
            ""
        }
    );
    let Update {
        plan,
        lock_plan,
        lock_to_settle,
    } = standing.plan(project)?;

    print_summary(&plan);
    if dry_run {
        if lock_to_settle {
            println!(
                "  {LOCK:<12} would be re-resolved from this project's{}",
                moves_of(&lock_plan)
            );
        }
        print!("{}", standing.notes());
        println!("\nDry run: nothing was written. The diff:\n");
        print!("{}", plan.diff(project)?);
        return Ok(false);
    }

    plan.apply(project, Path::new(answers::FILE))?;
    let mut conflicts = plan.has_conflicts();
    if lock_to_settle {
        if plan.touches_manifests(Some(Kind::Conflicting)) {
            conflicts = true;
            println!(
                "  {LOCK:<12} not re-resolved while a Cargo.toml has conflicts: resolve them, \
                 then `cargo update --workspace`{}",
                moves_of(&lock_plan)
            );
        } else {
            match lock_plan.settle(project) {
                Ok(moved) if moved.is_empty() => {
                    println!("  {LOCK:<12} re-resolved from this project's: your versions kept")
                }
                Ok(moved) => println!(
                    "  {LOCK:<12} re-resolved from this project's, your versions kept; the starter's: {}",
                    moved.join(", ")
                ),
                Err(e) => {
                    conflicts = true;
                    println!("  {LOCK:<12} left as it was: {e}");
                }
            }
        }
        if !lock_plan.kept.is_empty() {
            println!(
                "  {LOCK:<12} moved by you and by the starter, left to you: {}",
                lock_plan.kept.join(", ")
            );
        }
    }
    print!("{}", standing.notes());
    println!();
    if conflicts {
        println!(
            "Conflicts are left: fix the files marked above (look for <<<<<<<), then review \
             with `git diff` and commit. To give up instead: `git reset --hard && git clean -fd`."
        );
    } else {
        println!(
            "Updated to the starter's {}: review with `git diff`, run the tests, then commit.",
            standing.target.label()
        );
    }
    Ok(conflicts)
}

/// Says where `project` stands against the starter's `to` (the newest release by
/// default); returns whether it is behind. Writes nothing in the project.
fn check(project: &Path, to: Option<&str>) -> Result<bool, String> {
    let standing = Standing::find(project, to)?;
    println!(
        "This project: the starter's {} ({}).",
        standing.from.label(),
        standing.location
    );
    if let Some(why) = standing.up_to_date() {
        println!("{why}");
        return Ok(false);
    }
    let from_version = source::release(&standing.answers.revision)
        .or_else(|| source::release(&format!("v{}", standing.answers.version)));
    let to_version = standing.starter.version_at(&standing.target);
    let missed: Vec<String> = standing
        .starter
        .releases()?
        .into_iter()
        .filter(|(version, _)| {
            from_version.is_none_or(|from| *version > from)
                && to_version.is_none_or(|to| *version <= to)
        })
        .map(|(_, tag)| tag)
        .collect();
    let what = if standing.newest {
        "Newest release"
    } else {
        "Compared with"
    };
    let behind = match missed.len() {
        0 => String::new(),
        1 => format!(": 1 release behind ({})", missed[0]),
        n => format!(": {n} releases behind ({})", missed.join(", ")),
    };
    println!("{what}: {}{behind}.", standing.target.label());
    if std::env::var_os("GITHUB_ACTIONS").is_some_and(|value| value == "true") {
        // An annotation on the workflow run, where the team sees it.
        println!(
            "::notice title=Starter release::The starter's {} is out (this project is at {}): \
             run `cargo xtask starter update`",
            standing.target.label(),
            standing.from.label()
        );
    }

    if Starter::can_render() {
        println!(
            "An update would touch (taken: replaced by the starter's; merged: both changes kept; conflicting: markers to resolve):"
        );
        let Update {
            plan,
            lock_plan,
            lock_to_settle,
        } = standing.plan(project)?;
        print_summary(&plan);
        if lock_to_settle {
            println!(
                "  {LOCK:<12} would be re-resolved from this project's{}",
                moves_of(&lock_plan)
            );
        }
    } else {
        println!(
            "Which files an update would touch needs cargo-generate (install it as the \
             starter's README says: cargo install --locked --path tools/cargo-generate)."
        );
    }
    print!("{}", standing.notes());
    println!(
        "\nBehind: `cargo xtask starter update` takes {} in (`--dry-run` shows the diff first).",
        standing.target.label()
    );
    Ok(true)
}

/// Refuses a work tree with changes: the update's own changes must stand apart from the
/// team's, and be undone with git if need be.
fn require_clean(project: &Path) -> Result<(), String> {
    let status = output_of(
        Process::new("git")
            .arg("-C")
            .arg(project)
            .args(["status", "--porcelain", "--untracked-files=all", "--", "."]),
    )
    .map_err(|e| {
        format!(
            "this project is not a git repository ({e}): the update needs one, to keep its \
             changes apart from yours. Run `git init && git add -A && git commit -m \"New project\"` first"
        )
    })?;
    if status.is_empty() {
        return Ok(());
    }
    // Only the lock: cargo settled it on a build (a project from an older starter's plain
    // `cargo generate` has a lock cargo rewrites once). Say exactly what to do.
    if status.lines().all(|line| line.get(3..) == Some(LOCK)) {
        return Err(format!(
            "{LOCK} changed since the last commit (cargo rewrote it on a build): commit it \
             first, then run this again:\n    git commit -m \"Settle {LOCK}\" {LOCK}\n\
             Nothing was changed."
        ));
    }
    Err(format!(
        "the work tree has uncommitted changes; commit or stash them first, so that the \
         update's changes stand apart from yours. Nothing was changed.\n{status}"
    ))
}

fn print_summary(plan: &Plan) {
    for kind in Kind::ALL {
        for change in plan.of(kind) {
            let note = if change.note.is_empty() {
                String::new()
            } else {
                format!(" ({})", change.note)
            };
            println!("  {:<12} {}{note}", kind.name(), change.path.display());
        }
    }
    let counts: Vec<String> = Kind::ALL
        .iter()
        .map(|&kind| format!("{} {}", plan.of(kind).count(), kind.name()))
        .collect();
    println!("{}", counts.join(", "));
}

fn moves_of(plan: &LockPlan) -> String {
    if plan.moves.is_empty() {
        return String::new();
    }
    let moves: Vec<String> = plan
        .moves
        .iter()
        .map(|step| format!("{} {}", step.name, step.to))
        .collect();
    format!("; the starter's versions: {}", moves.join(", "))
}

/// The packages of `dir`'s lock file (none when it has no lock).
fn read_lock(dir: &Path) -> Result<lock::Versions, String> {
    match std::fs::read_to_string(dir.join(LOCK)) {
        Ok(text) => lock::versions(&text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(lock::Versions::new()),
        Err(e) => Err(format!("{}: {e}", dir.join(LOCK).display())),
    }
}

/// Runs a command; its standard output, or an error with what it said.
fn output_of(command: &mut Process) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", command.get_program().display()))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_owned());
    }
    let said = [&output.stderr, &output.stdout]
        .iter()
        .map(|bytes| String::from_utf8_lossy(bytes).trim().to_owned())
        .filter(|text| !text.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    Err(format!("{} ({})", said, output.status))
}

/// Runs a command for its effect.
fn succeed(command: &mut Process) -> Result<(), String> {
    output_of(command).map(drop)
}
