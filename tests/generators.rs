//! The generators of a rendered project (`cargo xtask new ...`), run as a user runs them:
//! their own unit tests on the fresh render, every refusal (one sentence, a failure
//! status, no file touched), then two resources (one with every type), a task and a
//! migration, which the project's own fmt, clippy and tests then cover.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use starter_tests::{cargo_in, cargo_output, describe, files, shared_target_dir};

/// The generated tests that must be among those `cargo test` ran.
pub const GENERATED_TESTS: &[&str] = &[
    "invoices::invoices_are_created_read_listed_replaced_changed_and_deleted",
    "invoices::an_unknown_invoice_is_a_404_and_a_bad_id_a_400",
    "invoices::invalid_fields_return_422_naming_each_field",
    "invoices::lists_page_in_creation_order_with_next_and_prev_links",
    "invoices::optional_fields_may_be_left_out_and_cleared_with_null",
    "invoices::person_id_must_exist_and_keeps_what_it_refers_to",
    "line_items::line_items_are_created_read_listed_replaced_changed_and_deleted",
    "line_items::invalid_fields_return_422_naming_each_field",
    "line_items::invoice_id_must_exist_and_keeps_what_it_refers_to",
    "invoices_tasks::send_reminder_is_scheduled_and_succeeds",
    "schema::the_migrations_build_the_tables_the_models_describe",
];

/// The operations the generated resources add to the OpenAPI document.
pub const GENERATED_PATHS: &[&str] = &[
    "/v1/invoices",
    "/v1/invoices/{id}",
    "/v1/line_items",
    "/v1/line_items/{id}",
];

/// The generated collections whose bodies refer to other rows (`person_id`, `invoice_id`).
pub const REFERRING_PATHS: &[&str] = &["/v1/invoices", "/v1/line_items"];

/// Every field type, required and optional, ranges and a reference to the example
/// resource: `invoice` is the resource that has them all.
const INVOICE: &[&str] = &[
    "number:string(80)",
    "amount_cents:i64",
    "due_on:date",
    "paid:bool",
    "note:text?",
    "memo:text",
    "summary:string?",
    "rate:f64",
    "discount:f64?",
    "lines:i32",
    "pages:i32?",
    "credit:i64?",
    "sent_at:datetime?",
    "issued_at:datetime",
    "paid_on:date?",
    "token:uuid",
    "batch:uuid?",
    "extra:json",
    "meta:json?",
    "approved:bool?",
    "quantity:i32(1..=1000)",
    "share:i32(0..=100)?",
    "balance_cents:i64(-5000000000..=5000000000)",
    "limit_cents:i64(0..=100)?",
    "person:references",
];

/// Every file of the project (build output aside) with its content.
fn snapshot(project: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    files(project)
        .into_iter()
        .map(|path| {
            let content = std::fs::read(project.join(&path)).unwrap_or_default();
            (path, content)
        })
        .collect()
}

/// `cargo xtask args...`, which must fail with one sentence and leave every file as it was.
fn refused(project: &Path, args: &[&str], says: &str) {
    let before = snapshot(project);
    let mut command = vec!["xtask"];
    command.extend_from_slice(args);
    let output = cargo_output(project, &command);
    let shown = args.join(" ");
    assert!(
        !output.status.success(),
        "`cargo xtask {shown}` must be refused:\n{}",
        describe(&output)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "`cargo xtask {shown}`: one line on stderr:\n{stderr}"
    );
    assert!(
        stderr.starts_with("error: ") && stderr.contains(says),
        "`cargo xtask {shown}` says {says:?}:\n{stderr}"
    );
    let after = snapshot(project);
    let changed: Vec<&PathBuf> = before
        .keys()
        .chain(after.keys())
        .filter(|path| before.get(*path) != after.get(*path))
        .collect();
    assert!(
        changed.is_empty(),
        "`cargo xtask {shown}` changed files: {changed:?}"
    );
}

/// Runs `cargo xtask args...`, which must succeed; returns what it printed.
fn generate(project: &Path, args: &[&str]) -> String {
    let mut command = vec!["xtask"];
    command.extend_from_slice(args);
    let output = cargo_in(project, &command);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The generators' unit tests (on the render as it came), their refusals, then the
/// generation the issue asks for. Returns how long the generation itself took.
pub fn run_on(project: &Path) -> std::time::Duration {
    // A render's lock file lists the package where the skeleton's name sorted; the first
    // cargo command that may write it puts it in order. Settled here, so that the
    // snapshots below see only what the generators do.
    cargo_in(project, &["metadata", "--format-version", "1"]);
    // The unit tests describe the starter as rendered: they run before anything is added.
    cargo_in(project, &["test", "--locked", "--package", "xtask"]);

    for (args, says) in [
        (
            &["new", "resource", "Invoice", "number:string"][..],
            "snake_case",
        ),
        (&["new", "resource", "type", "number:string"], "keyword"),
        (
            &["new", "resource", "person", "name:string"],
            "exists already",
        ),
        (
            &["new", "resource", "task", "name:string"],
            "exists already",
        ),
        (&["new", "resource", "log", "line:text"], "taken"),
        (
            &[
                "new",
                "resource",
                "someone",
                "name:string",
                "--plural",
                "people",
            ],
            "route",
        ),
        (&["new", "resource", "metric", "value:i64"], "reserved"),
        (
            &["new", "resource", "mon", "value:i64", "--plural", "mons"],
            "reserved",
        ),
        (&["new", "resource", "doc", "value:i64"], "reserved"),
        (
            &["new", "resource", "invoice", "number:varchar"],
            "known types: string",
        ),
        (
            &["new", "resource", "invoice", "number:string(0)"],
            "from 1 to",
        ),
        (
            &["new", "resource", "invoice", "count:i32(9..=1)"],
            "MIN at most MAX",
        ),
        (
            &["new", "task", "invoices.send", "copies:i32(1..=9)"],
            "ranges are checked for resources",
        ),
        (
            &["new", "resource", "invoice", "number:string", "number:text"],
            "twice",
        ),
        (
            &["new", "resource", "invoice", "created_at:datetime"],
            "reserved",
        ),
        (&["new", "resource", "invoice", "fn:string"], "keyword"),
        (&["new", "resource", "invoice"], "at least one FIELD:TYPE"),
        (
            &["new", "resource", "line_item", "order:references"],
            "not a resource",
        ),
        (&["new", "task", "send_reminder"], "GROUP.NAME"),
        (&["new", "task", "invoices.Send"], "snake_case"),
        (&["new", "task", "persons.add_one_year"], "exists already"),
        (
            &["new", "task", "invoices.send", "at:moment"],
            "known types",
        ),
        (&["new", "migration", "AddIndex"], "snake_case"),
        (&["new", "migration", "create_persons"], "exists already"),
    ] {
        refused(project, args, says);
    }

    let started = std::time::Instant::now();
    let mut invoice = vec!["new", "resource", "invoice"];
    invoice.extend_from_slice(INVOICE);
    let printed = generate(project, &invoice);
    assert!(
        printed.contains("created  src/api/v1/invoices.rs") && printed.contains("db upgrade"),
        "says what it wrote and what to run next:\n{printed}"
    );
    generate(
        project,
        &[
            "new",
            "resource",
            "line_item",
            "invoice:references",
            "description:string",
            "quantity:i32",
        ],
    );
    generate(
        project,
        &["new", "task", "invoices.send_reminder", "invoice_id:i64"],
    );
    generate(project, &["new", "migration", "add_index_to_invoices"]);
    let took = started.elapsed();

    // What exists now is refused too.
    refused(
        project,
        &["new", "resource", "invoice", "number:string"],
        "exists already",
    );
    refused(
        project,
        &["new", "task", "invoices.send_reminder"],
        "exists already",
    );
    took
}

/// Checks that every generated test ran and passed.
pub fn assert_generated_tests_ran(test_stdout: &str) {
    for name in GENERATED_TESTS {
        let line = format!("test {name} ... ok");
        assert!(
            test_stdout.contains(&line),
            "{name} did not run and pass:\n{test_stdout}"
        );
    }
}

/// The JSON object that starts at `text[at..]`, up to its closing brace.
fn object_at(text: &str, at: usize) -> &str {
    let (mut depth, mut in_string, mut escaped) = (0, false, false);
    for (offset, c) in text[at..].char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string => depth += 1,
            '}' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return &text[at..=at + offset];
                }
            }
            _ => {}
        }
    }
    &text[at..]
}

/// Checks that the OpenAPI document (as `openapi` prints it) has every generated
/// operation.
pub fn assert_documented(project: &Path, package: &str) {
    let binary = shared_target_dir().join("debug").join(package);
    let output = std::process::Command::new(&binary)
        .arg("openapi")
        .current_dir(project)
        .env("APP_ENV", "test")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", binary.display()));
    assert!(output.status.success(), "{}", describe(&output));
    let spec = String::from_utf8_lossy(&output.stdout);
    for (path, methods) in [
        (GENERATED_PATHS[0], &["get", "post"][..]),
        (GENERATED_PATHS[1], &["get", "put", "patch", "delete"]),
        (GENERATED_PATHS[2], &["get", "post"]),
        (GENERATED_PATHS[3], &["get", "put", "patch", "delete"]),
    ] {
        let key = format!("\"{path}\":");
        let at = spec
            .find(&key)
            .unwrap_or_else(|| panic!("{path} is not in the OpenAPI document"));
        let after_key = at + key.len();
        let open = after_key + spec[after_key..].find('{').expect("an object");
        let item = object_at(&spec, open);
        for method in methods {
            assert!(
                item.contains(&format!("\"{method}\":")),
                "{method} {path} is not documented: {item}"
            );
        }
    }
}
