//! `cargo xtask starter update`: takes in the starter's later releases as copier and cruft
//! do for Python templates. The revision this project came from and the new one are
//! rendered with the recorded answers (`.starter/answers.toml`), and the difference between
//! the two renders is merged into the project, three ways, file by file. See "Keeping up to
//! date" in the README.
use std::path::Path;
use std::process::{Command as Process, ExitCode};

use clap::Subcommand;

mod answers;
mod lock;
mod merge;
mod source;

use answers::Answers;
use lock::LockPlan;
use merge::{Kind, Labels, Plan, Write};
use source::Starter;

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
}

/// Runs a `starter` command: 0 when done, 1 when conflicts are left, 2 when refused.
pub fn run(command: Command) -> ExitCode {
    // xtask/ is a folder of the project's root.
    let project = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."));
    let result = match command {
        Command::Update { to, dry_run } => update(project, to.as_deref(), dry_run),
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

/// Updates `project` to the starter's `to` (the newest release by default); returns
/// whether conflicts are left.
fn update(project: &Path, to: Option<&str>, dry_run: bool) -> Result<bool, String> {
    require_clean(project)?;
    let answers = Answers::read(project)?;
    let location = answers.location(project)?;
    let scratch = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
    let starter = Starter::clone(&location, &scratch.path().join("starter"))?;
    let from = starter.recorded(&answers)?;
    let target = match to {
        Some(name) => starter.resolve(name)?,
        None => starter.newest_release()?,
    };
    if target.commit == from.commit {
        println!(
            "Already up to date: this project is at the starter's {} ({location}). Nothing to do.",
            target.label()
        );
        return Ok(false);
    }
    if to.is_none() && starter.is_ancestor(&target.commit, &from.commit) {
        println!(
            "Already up to date: this project is at the starter's {}, after its newest release \
             {}. Nothing to do (pass --to REF to move to another revision).",
            from.label(),
            target.label()
        );
        return Ok(false);
    }
    println!(
        "Updating from the starter's {} to {} ({location}){}",
        from.label(),
        target.label(),
        if dry_run {
            ": dry run, nothing is written"
        } else {
            ""
        }
    );

    let base = starter.render(&from, &answers, &scratch.path().join("base"))?;
    let theirs = starter.render(&target, &answers, &scratch.path().join("theirs"))?;
    let labels = Labels {
        ours: "this project".into(),
        base: format!("starter {}", from.label()),
        theirs: format!("starter {}", target.label()),
    };
    let plan = Plan::new(project, &base, &theirs, &[LOCK], &labels)?;

    let (base_lock, their_lock) = (read_lock(&base)?, read_lock(&theirs)?);
    let lock_plan = LockPlan::new(&read_lock(project)?, &base_lock, &their_lock);
    let manifests = |kind: Option<Kind>| {
        plan.changes.iter().any(|change| {
            change
                .path
                .file_name()
                .is_some_and(|name| name == "Cargo.toml")
                && !matches!(change.write, Write::Nothing)
                && kind.is_none_or(|kind| change.kind == kind)
        })
    };
    let lock_to_settle = base_lock != their_lock || manifests(None);

    print_summary(&plan);
    if dry_run {
        if lock_to_settle {
            println!(
                "  {LOCK:<12} would be re-resolved from this project's{}",
                moves_of(&lock_plan)
            );
        }
        println!("Dry run: nothing was written. The diff:\n");
        print!("{}", plan.diff(project)?);
        return Ok(false);
    }

    plan.apply(project, Path::new(answers::FILE))?;
    let mut conflicts = plan.has_conflicts();
    if lock_to_settle {
        if manifests(Some(Kind::Conflicting)) {
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
    if conflicts {
        println!(
            "Conflicts are left: fix the files marked above (look for <<<<<<<), then review \
             with `git diff` and commit. To give up instead: `git reset --hard && git clean -fd`."
        );
    } else {
        println!(
            "Updated to the starter's {}: review with `git diff`, run the tests, then commit.",
            target.label()
        );
    }
    Ok(conflicts)
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
        Ok(())
    } else {
        Err(format!(
            "the work tree has uncommitted changes; commit or stash them first, so that the \
             update's changes stand apart from yours. Nothing was changed.\n{status}"
        ))
    }
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
