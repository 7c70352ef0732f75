//! `new task GROUP.NAME ARG:TYPE...`: a background task with typed arguments, registered,
//! the function that schedules it, and a test that sees it succeed.
//!
//! The code is in `xtask/templates/task/`. The task and its `schedule_{name}` go to
//! `src/tasks/{group}.rs` (beside the task, as `persons::schedule_birthday` is:
//! controllers sit below the tasks and do not reach up to them), its test to
//! `tests/api/{group}_tasks.rs`, each made when missing and added to otherwise (the code
//! names everything by full path, so it needs no `use` line wherever it lands).
use serde::Serialize;

use super::template::{self, Templates};
use super::tests_support;
use crate::fields::{self, Field, Kind};
use crate::names::{self, camel};
use crate::plan::Plan;
use crate::project::Project;

/// Plans task `task_name` (`group.name`) with arguments `specs`.
pub fn plan(project: &Project, task_name: &str, specs: &[String]) -> Result<Plan, String> {
    let context = context(project, task_name, specs)?;
    let templates = Templates::load(&project.root, "task")?;
    let mut plan = Plan::new(&project.root);
    template::plan(&mut plan, templates.render(&context)?)?;
    Ok(plan)
}

/// What the templates use.
#[derive(Serialize)]
#[allow(non_snake_case)] // `Name` reads as what it stands for in the templates
struct Context {
    /// `invoices.send_reminder`, its group and name, and the name as a type.
    task_name: String,
    group: String,
    name: String,
    Name: String,
    args: Vec<Arg>,
    /// The test crate's paths of the service and of two test helpers.
    service: String,
    spawn_app: String,
    test_settings: String,
}

#[derive(Serialize)]
struct Arg {
    name: String,
    /// The type, as for a resource's fields (`string`, `i64` ...).
    kind: &'static str,
    optional: bool,
}

/// Checks the request against the project and gives the templates their values.
fn context(project: &Project, task_name: &str, specs: &[String]) -> Result<Context, String> {
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
    for arg in &args {
        check_arg(arg)?;
    }
    let type_name = camel(name);
    check_free(project, task_name, group, name, &type_name)?;
    let support = tests_support::locate(project)?;
    Ok(Context {
        task_name: task_name.to_owned(),
        group: group.to_owned(),
        name: name.to_owned(),
        Name: type_name,
        args: args
            .iter()
            .map(|arg| Arg {
                name: arg.name.clone(),
                kind: arg.kind.label(),
                optional: arg.optional,
            })
            .collect(),
        service: support.service.clone(),
        spawn_app: support.path("spawn_app"),
        test_settings: support.path("test_settings"),
    })
}

/// Arguments are typed, not checked: references and ranges are for resources.
fn check_arg(arg: &Field) -> Result<(), String> {
    if matches!(arg.kind, Kind::References(_)) {
        return Err(format!(
            "task argument {:?}: references are for resources; give the id as {}:i64",
            arg.name, arg.name
        ));
    }
    if arg.kind.range().is_some() {
        return Err(format!(
            "task argument {:?}: ranges are checked for resources, not tasks; give the type alone ({})",
            arg.name,
            arg.kind.label()
        ));
    }
    Ok(())
}

/// Refuses a task, a type or a test that exists already.
fn check_free(
    project: &Project,
    task_name: &str,
    group: &str,
    name: &str,
    type_name: &str,
) -> Result<(), String> {
    let quoted = format!("\"{task_name}\"");
    for file in project.rust_files("src") {
        if project.read(&file)?.contains(&quoted) {
            return Err(format!("task {task_name:?} exists already ({file})"));
        }
    }
    let task_file = format!("src/tasks/{group}.rs");
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
    let tests_file = format!("tests/api/{group}_tasks.rs");
    if project
        .read(&tests_file)
        .is_ok_and(|text| text.contains(&format!("fn {name}_is_scheduled_and_succeeds(")))
    {
        return Err(format!("{tests_file} tests `{name}` already"));
    }
    Ok(())
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
        let registry = plan.text("src/tasks/mod.rs").expect("registry");
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
        let registry = plan.text("src/tasks/mod.rs").expect("registry");
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
            (
                "invoices.send",
                vec!["n:i32(0..=9)"],
                "ranges are checked for resources",
            ),
            ("serde.send", vec![], "reserved"),
        ] {
            let error = plan(&project, name, &specs(&args))
                .err()
                .unwrap_or_default();
            assert!(error.contains(says), "{name}: {error}");
        }
    }
}
