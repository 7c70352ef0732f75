//! `new task GROUP.NAME ARG:TYPE...`: a background task with typed arguments, registered,
//! the function that schedules it, and a test that sees it succeed.
//!
//! The task and its `schedule_{name}` go to `src/tasks/{group}.rs` (beside the task, as
//! `persons::schedule_birthday` is: controllers sit below the tasks and do not reach up
//! to them), its test to `tests/api/{group}_tasks.rs`, each made when missing and added
//! to otherwise (the code names everything by full path, so it needs no `use` line
//! wherever it lands).
use super::fill::{fill, leftovers};
use super::{inject, tests_support};
use crate::fields::{self, Field, Kind};
use crate::names::{self, camel};
use crate::plan::Plan;
use crate::project::Project;

const MODULE: &str = include_str!("../../templates/task/module.rs.txt");
const TASK: &str = include_str!("../../templates/task/task.rs.txt");
const TESTS_MODULE: &str = include_str!("../../templates/task/tests_module.rs.txt");
const TEST: &str = include_str!("../../templates/task/test.rs.txt");

const REGISTRY: &str = "src/tasks/mod.rs";

/// Plans task `task_name` (`group.name`) with arguments `specs`.
pub fn plan(project: &Project, task_name: &str, specs: &[String]) -> Result<Plan, String> {
    let Some((group, name)) = task_name.split_once('.') else {
        return Err(format!(
            "task name {task_name:?} must be GROUP.NAME, such as invoices.send_reminder"
        ));
    };
    names::check_identifier(group, "task group")?;
    names::check_identifier(name, "task name")?;
    if project.is_reserved(group) {
        return Err(format!(
            "task group {group:?} is reserved: a module or crate of the service has that name"
        ));
    }
    let args = fields::parse_all(specs, &[])?;
    if let Some(reference) = args.iter().find(|a| matches!(a.kind, Kind::References(_))) {
        return Err(format!(
            "task argument {:?}: references are for resources; give the id as {}:i64",
            reference.name, reference.name
        ));
    }
    let type_name = camel(name);
    let quoted = format!("\"{task_name}\"");
    for file in project.rust_files("src") {
        if project.read(&file)?.contains(&quoted) {
            return Err(format!("task {task_name:?} exists already ({file})"));
        }
    }

    let task_file = format!("src/tasks/{group}.rs");
    let tests_module = format!("{group}_tasks");
    let tests_file = format!("tests/api/{tests_module}.rs");
    if let Ok(text) = project.read(&task_file) {
        if !text.contains("const NAME: &'static str") {
            return Err(format!(
                "{task_file} is not a module of tasks: pick another group"
            ));
        }
        if text.contains(&format!("pub struct {type_name};")) {
            return Err(format!("{task_file} has a `{type_name}` already"));
        }
        if text.contains(&format!("fn schedule_{name}(")) {
            return Err(format!("{task_file} has a `schedule_{name}` already"));
        }
    }
    if project
        .read(&tests_file)
        .is_ok_and(|text| text.contains(&format!("fn {name}_is_scheduled_and_succeeds(")))
    {
        return Err(format!("{tests_file} tests `{name}` already"));
    }

    let support = tests_support::locate(project)?;
    let values = values(task_name, group, name, &args, &support);
    let filled = |template: &str| -> Result<String, String> {
        let text = fill(template, &values);
        match leftovers(&text).first() {
            Some(marker) => Err(format!("the generator left {marker} unfilled (a bug)")),
            None => Ok(text),
        }
    };

    let mut plan = Plan::new(&project.root);
    add_to(
        &mut plan,
        project,
        &task_file,
        filled(MODULE)?,
        filled(TASK)?,
    )?;
    if !project.exists(&task_file) {
        plan.edit(REGISTRY, |text| {
            inject::module(text, "pub mod", group, REGISTRY)
        })?;
    }
    plan.edit(REGISTRY, |text| {
        let line = format!(".register::<{group}::{type_name}>()");
        inject::before_marker(text, inject::REGISTRY_MARKER, &line, REGISTRY)
    })?;
    add_to(
        &mut plan,
        project,
        &tests_file,
        filled(TESTS_MODULE)?,
        filled(TEST)?,
    )?;
    if !project.exists(&tests_file) {
        plan.edit("tests/api/main.rs", |text| {
            inject::module(text, "mod", &tests_module, "tests/api/main.rs")
        })?;
    }
    Ok(plan)
}

/// Appends `code` to `file`, or creates it with `header` first.
fn add_to(
    plan: &mut Plan,
    project: &Project,
    file: &str,
    header: String,
    code: String,
) -> Result<(), String> {
    if project.exists(file) {
        plan.edit(file, |text| Ok(text.trim_end().to_owned() + "\n" + &code))
    } else {
        plan.create(file, header + &code)
    }
}

/// The Rust type of an argument.
fn arg_type(field: &Field) -> String {
    let ty = match &field.kind {
        Kind::String(_) | Kind::Text => "String",
        Kind::Bool => "bool",
        Kind::I32 => "i32",
        Kind::I64 | Kind::References(_) => "i64",
        Kind::F64 => "f64",
        Kind::Date => "chrono::NaiveDate",
        Kind::DateTime => "chrono::DateTime<chrono::Utc>",
        Kind::Uuid => "uuid::Uuid",
        Kind::Json => "serde_json::Value",
    };
    if field.optional {
        format!("Option<{ty}>")
    } else {
        ty.to_owned()
    }
}

/// A value of an argument, for the test.
fn arg_value(field: &Field) -> String {
    let value = match &field.kind {
        Kind::String(_) | Kind::Text => "String::from(\"example\")",
        Kind::Bool => "true",
        Kind::I32 | Kind::I64 | Kind::References(_) => "42",
        Kind::F64 => "1.5",
        Kind::Date => "chrono::NaiveDate::from_ymd_opt(2025, 1, 31).expect(\"a date\")",
        Kind::DateTime => "chrono::Utc::now()",
        Kind::Uuid => "uuid::Uuid::nil()",
        Kind::Json => "serde_json::json!([\"any\", \"value\"])",
    };
    if field.optional {
        format!("Some({value})")
    } else {
        value.to_owned()
    }
}

fn values(
    task_name: &str,
    group: &str,
    name: &str,
    args: &[Field],
    support: &tests_support::Support,
) -> Vec<(&'static str, String)> {
    let mut fields = String::new();
    let mut values = String::new();
    for arg in args {
        if arg.optional {
            fields.push_str("#[serde(default)]\n");
        }
        fields.push_str(&format!("pub {}: {},\n", arg.name, arg_type(arg)));
        values.push_str(&format!("{}: {},\n", arg.name, arg_value(arg)));
    }
    vec![
        ("__task_name__", task_name.to_owned()),
        ("__group__", group.to_owned()),
        ("__name__", name.to_owned()),
        ("__Name__", camel(name)),
        ("__args_fields__", fields),
        ("__args_values__", values),
        ("__spawn_app__", support.path("spawn_app")),
        ("__test_settings__", support.path("test_settings")),
        ("__service__", support.service.clone()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_task_is_planned_with_its_registration_scheduler_and_test() {
        let project = Project::locate().expect("the project");
        let plan = plan(
            &project,
            "invoices.send_reminder",
            &specs(&["invoice_id:i64", "note:text?"]),
        )
        .expect("planned");
        let task = plan.text("src/tasks/invoices.rs").expect("task file");
        assert!(task.contains("pub struct SendReminderArgs"), "{task}");
        assert!(task.contains("pub note: Option<String>,"), "{task}");
        let registry = plan.text(REGISTRY).expect("registry");
        assert!(registry.contains("pub mod invoices;"), "{registry}");
        assert!(
            registry.contains(".register::<invoices::SendReminder>()"),
            "{registry}"
        );
        assert!(
            task.contains("pub async fn schedule_send_reminder("),
            "{task}"
        );
        assert!(
            plan.text("src/controllers/invoices.rs").is_none(),
            "no controller"
        );
        let test = plan.text("tests/api/invoices_tasks.rs").expect("test");
        assert!(test.contains("async fn send_reminder_is_scheduled_and_succeeds()"));
        assert!(leftovers(test).is_empty());
        let main = plan.text("tests/api/main.rs").expect("main.rs");
        assert!(main.contains("mod invoices_tasks;"));
    }

    #[test]
    fn a_task_added_to_a_group_goes_at_the_end_of_its_files() {
        let project = Project::locate().expect("the project");
        let plan = plan(&project, "persons.send_card", &specs(&[])).expect("planned");
        let task = plan.text("src/tasks/persons.rs").expect("task file");
        assert!(task.contains("pub struct AddOneYear;") && task.ends_with("}\n"));
        assert!(task.contains("pub async fn schedule_send_card("), "{task}");
        let registry = plan.text(REGISTRY).expect("registry");
        assert!(!registry.contains("pub mod persons;\npub mod persons;"));
    }

    #[test]
    fn bad_task_names_and_arguments_are_refused() {
        let project = Project::locate().expect("the project");
        for (name, args, says) in [
            ("send_reminder", vec![], "GROUP.NAME"),
            ("Invoices.send", vec![], "snake_case"),
            ("invoices.match", vec![], "keyword"),
            ("persons.add_one_year", vec![], "exists already"),
            ("tasks.ping", vec![], "exists already"),
            (
                "invoices.send",
                vec!["invoice:references"],
                "references are for resources",
            ),
            ("invoices.send", vec!["at:moment"], "known types"),
            ("serde.send", vec![], "reserved"),
        ] {
            let error = plan(&project, name, &specs(&args))
                .err()
                .unwrap_or_default();
            assert!(error.contains(says), "{name}: {error}");
        }
    }
}
