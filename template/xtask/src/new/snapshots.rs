//! Snapshot tests: what the generators write for a resource with every field type, a task
//! and a migration, compared exactly with the files of `xtask/snapshots/`. After a change
//! of the templates, `UPDATE_SNAPSHOTS=1 cargo test -p xtask snapshots` writes them anew:
//! read their diff as the diff of the generated code.
//!
//! Each snapshot lists every file the command plans, formatted as it would be written: a
//! new file whole, a changed one by the lines it gains.
use std::path::PathBuf;

use super::migration::{self, Stamp};
use super::{resource, task};
use crate::plan::Plan;
use crate::project::Project;

/// Every field type, required and optional, and a reference.
const EVERY_TYPE: &[&str] = &[
    "number:string(80)",
    "summary:string?",
    "note:text?",
    "memo:text",
    "paid:bool",
    "approved:bool?",
    "lines:i32",
    "pages:i32?",
    "quantity:i32(1..=1000)",
    "discount_percent:i32(0..=100)?",
    "amount_cents:i64",
    "credit:i64?",
    "balance_cents:i64(-5000000000..=5000000000)",
    "rate:f64",
    "tax:f64?",
    "due_on:date",
    "paid_on:date?",
    "issued_at:datetime",
    "sent_at:datetime?",
    "token:uuid",
    "batch:uuid?",
    "extra:json",
    "meta:json?",
    "person:references",
];

/// 2026-01-01 00:00:00: the generated migrations' stamp.
const STAMP: Stamp = Stamp::At(1_767_225_600);

/// The snapshot of `plan`: every file it writes, headed by the command.
fn render(command: &str, mut plan: Plan) -> String {
    plan.format().expect("formatted");
    let mut out = format!("# cargo xtask {command}\n");
    for change in plan.changes() {
        match &change.before {
            None => {
                out.push_str(&format!("\n## new {}\n\n", change.path));
                out.push_str(&change.after);
            }
            Some(before) => {
                out.push_str(&format!("\n## changed {}: lines added\n\n", change.path));
                for line in added(before, &change.after) {
                    out.push_str(&format!("+{line}\n"));
                }
            }
        }
    }
    out
}

/// The lines of `after` that `before` lacks (the generators only add lines).
fn added<'a>(before: &str, after: &'a str) -> Vec<&'a str> {
    let mut old = before.lines().peekable();
    let mut new_lines = Vec::new();
    for line in after.lines() {
        if old.peek() == Some(&line) {
            old.next();
        } else {
            new_lines.push(line);
        }
    }
    new_lines
}

/// Compares `text` with `xtask/snapshots/{name}.snap`, or writes it there with
/// `UPDATE_SNAPSHOTS=1`.
fn check(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(format!("{name}.snap"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("snapshots/");
        std::fs::write(&path, text).expect("written");
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != text {
        let first = expected
            .lines()
            .zip(text.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(text.lines().count()));
        panic!(
            "the generators write otherwise than {} says, from line {}: {:?} (snapshot) against {:?} (now); if that is meant, run UPDATE_SNAPSHOTS=1 cargo test -p xtask snapshots",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            text.lines().nth(first),
        );
    }
}

#[test]
fn a_resource_with_every_field_type() {
    let project = Project::locate().expect("the project");
    let specs: Vec<String> = EVERY_TYPE.iter().map(|s| s.to_string()).collect();
    let request = resource::Request {
        name: "invoice",
        plural: None,
        specs: &specs,
    };
    let plan = resource::plan(&project, &request, STAMP).expect("planned");
    let command = format!("new resource invoice {}", EVERY_TYPE.join(" "));
    check("resource_every_type", &render(&command, plan));
}

#[test]
fn a_task_with_every_argument_type() {
    let project = Project::locate().expect("the project");
    let args = [
        "invoice_id:i64",
        "note:text?",
        "copies:i32",
        "rate:f64?",
        "urgent:bool",
        "due_on:date",
        "at:datetime?",
        "token:uuid",
        "extra:json?",
        "subject:string",
    ];
    let specs: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let plan = task::plan(&project, "invoices.send_reminder", &specs).expect("planned");
    let command = format!("new task invoices.send_reminder {}", args.join(" "));
    check("task", &render(&command, plan));
}

#[test]
fn a_task_added_to_a_group_that_has_tasks() {
    let project = Project::locate().expect("the project");
    let plan = task::plan(&project, "persons.send_card", &[]).expect("planned");
    check(
        "task_in_a_group",
        &render("new task persons.send_card", plan),
    );
}

#[test]
fn a_migration() {
    let project = Project::locate().expect("the project");
    let plan = migration::plan(&project, "add_index_to_invoices", STAMP).expect("planned");
    check(
        "migration",
        &render("new migration add_index_to_invoices", plan),
    );
}

#[test]
fn added_lines_are_found_between_the_kept_ones() {
    assert_eq!(added("a\nc\n", "a\nb\nc\nd\n"), ["b", "d"]);
    assert!(added("a\n", "a\n").is_empty());
}
