//! `cargo xtask new ...`: the generators, one module per kind of thing generated.
//!
//!     cargo xtask new resource invoice number:string(80) amount_cents:i64 note:text?
//!     cargo xtask new task invoices.send_reminder invoice_id:i64
//!     cargo xtask new migration add_index_to_invoices
//!
//! The code they write is in `xtask/templates/` (see [`template`]); the generators check
//! the request against the project and give the templates their values. Every file is
//! planned, and formatted, before any is written: bad input writes nothing and says why
//! in one sentence.
use std::process::ExitCode;

use clap::Subcommand;

use crate::project::Project;
use migration::Stamp;

mod inject;
pub mod migration;
pub mod resource;
#[cfg(test)]
mod snapshots;
pub mod task;
pub mod template;
mod tests_support;

#[derive(Subcommand)]
pub enum Command {
    /// A REST resource under /v1: table and migration, entity, controller with
    /// validation, documented views, and tests. Types: string, string(N), text, bool,
    /// i32, i64 (`i32(0..=150)`: a range), f64, date, datetime, uuid, json, and
    /// NAME:references (a foreign key to resource NAME); a trailing `?` makes a field
    /// optional.
    Resource {
        /// The resource's singular name, in snake_case: `invoice`, `line_item`.
        name: String,
        /// Its fields: `number:string(80) amount_cents:i64 note:text? invoice:references`.
        fields: Vec<String>,
        /// The plural, for the table and the route, when adding an `s` is wrong.
        #[arg(long)]
        plural: Option<String>,
        /// Print what would be written, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// A background task with typed arguments, registered, with the function that
    /// schedules it (beside it, in src/tasks/GROUP.rs) and a test.
    Task {
        /// GROUP.NAME in snake_case: `invoices.send_reminder` (in src/tasks/invoices.rs).
        name: String,
        /// Its arguments, NAME:TYPE as for a resource's fields (no references).
        args: Vec<String>,
        /// Print what would be written, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// An empty migration, registered to run after the others.
    Migration {
        /// What it does, in snake_case: `add_index_to_invoices`.
        name: String,
        /// Print what would be written, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs a generator; on bad input, one sentence on stderr and a failure status.
pub fn run(command: Command) -> ExitCode {
    match generate(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn generate(command: Command) -> Result<(), String> {
    let project = Project::locate()?;
    let (mut plan, dry_run, next) = match command {
        Command::Resource {
            name,
            fields,
            plural,
            dry_run,
        } => {
            let request = resource::Request {
                name: &name,
                plural: plural.as_deref(),
                specs: &fields,
            };
            let plan = resource::plan(&project, &request, Stamp::now())?;
            (plan, dry_run, next_steps(&project, true))
        }
        Command::Task {
            name,
            args,
            dry_run,
        } => (
            task::plan(&project, &name, &args)?,
            dry_run,
            next_steps(&project, false),
        ),
        Command::Migration { name, dry_run } => {
            let plan = migration::plan(&project, &name, Stamp::now())?;
            let mut next = String::from("Next: fill in `up` and `down` in the new file, then\n");
            next.push_str(&migrate_line(&project));
            (plan, dry_run, next)
        }
    };
    plan.format()?;
    if dry_run {
        print!("Would write:\n{}", plan.summary("new", "changed"));
        return Ok(());
    }
    let summary = plan.summary("created", "changed");
    plan.apply()?;
    print!("{summary}{next}");
    Ok(())
}

fn migrate_line(project: &Project) -> String {
    format!(
        "  cargo run -- db upgrade    # `{} db upgrade` where it is deployed\n",
        project.package
    )
}

/// What to run after a resource or a task was added.
fn next_steps(project: &Project, migrated: bool) -> String {
    let mut next = String::from("Next:\n");
    if migrated {
        next.push_str(&migrate_line(project));
    }
    next.push_str("  cargo test                 # the new tests run with the others\n");
    next
}
