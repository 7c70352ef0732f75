//! Where the functional tests keep what generated tests use: `spawn_app`, `error_of`,
//! `TestApp`, `test_settings`, the service crate, the drift test. Found by looking, so
//! that the generators follow the tests wherever a team moves them.
use crate::project::Project;

use super::inject::DRIFT_MARKER;

/// Paths the generated tests use, as Rust paths from the test crate's root.
pub struct Support {
    /// Module path of each helper, by name.
    helpers: Vec<(&'static str, String)>,
    /// The module that re-exports the service's crate (`crate::service`).
    pub service: String,
    /// The file with the migration drift test.
    pub schema_file: String,
}

const ROOT: &str = "tests/api/main.rs";
const HELPERS: [(&str, &str); 4] = [
    ("spawn_app", "pub async fn spawn_app("),
    ("error_of", "pub async fn error_of("),
    ("TestApp", "pub struct TestApp"),
    ("test_settings", "pub fn test_settings("),
];

/// Looks the helpers up in `tests/api/`.
pub fn locate(project: &Project) -> Result<Support, String> {
    let files = project.rust_files("tests/api");
    let read = |file: &String| project.read(file).unwrap_or_default();
    let mut helpers = Vec::new();
    for (name, definition) in HELPERS {
        let file = files
            .iter()
            .find(|file| read(file).contains(definition))
            .ok_or_else(|| {
                format!("no `{definition}...` in tests/api/: the generated tests need it")
            })?;
        helpers.push((name, visible_path(project, file, name)));
    }
    let crate_name = project.package.replace('-', "_");
    let reexport = format!("pub use {crate_name}::*;");
    let service = files
        .iter()
        .find(|file| read(file).contains(&reexport))
        .map(|file| module_path(file))
        .ok_or_else(|| format!("no `{reexport}` in tests/api/: the generated tests need it"))?;
    let schema_file = files
        .iter()
        .find(|file| read(file).lines().any(|line| line.trim() == DRIFT_MARKER))
        .cloned()
        .ok_or_else(|| {
            format!(
                "no test in tests/api/ has the line `{DRIFT_MARKER}` (the migration drift test)"
            )
        })?;
    Ok(Support {
        helpers,
        service,
        schema_file,
    })
}

impl Support {
    /// The path of helper `name`.
    pub fn path(&self, name: &str) -> String {
        self.helpers
            .iter()
            .find(|(helper, _)| *helper == name)
            .map(|(_, module)| format!("{module}::{name}"))
            .unwrap_or_else(|| name.to_owned())
    }

    /// `use` lines for `TestApp`, `error_of` and `spawn_app`.
    pub fn uses(&self) -> String {
        self.uses_of(&["TestApp", "error_of", "spawn_app"])
    }

    /// `use` lines for the given helpers, grouped by module.
    pub fn uses_of(&self, names: &[&str]) -> String {
        let mut modules: Vec<(&str, Vec<&str>)> = Vec::new();
        for name in names {
            let Some((_, module)) = self.helpers.iter().find(|(helper, _)| helper == name) else {
                continue;
            };
            match modules.iter_mut().find(|(m, _)| *m == module.as_str()) {
                Some((_, list)) => list.push(name),
                None => modules.push((module, vec![name])),
            }
        }
        modules
            .iter()
            .map(|(module, names)| {
                if names.len() == 1 {
                    format!("use {module}::{};\n", names[0])
                } else {
                    format!(
                        "use {module}::{};\n",
                        "{".to_owned() + &names.join(", ") + "}"
                    )
                }
            })
            .collect()
    }

    /// The path of the fixture that makes one row of `target` (`create_invoice(app)`):
    /// a `pub async fn create_{target}(app: &TestApp)` in the tests.
    pub fn fixture(&self, project: &Project, target: &str) -> Option<String> {
        let definition = format!("pub async fn create_{target}(app: &TestApp)");
        project
            .rust_files("tests/api")
            .iter()
            .find(|file| project.read(file).unwrap_or_default().contains(&definition))
            .map(|file| format!("{}::create_{target}", module_path(file)))
    }
}

/// The module path of a file of the test crate: `tests/api/support/helpers.rs` →
/// `crate::support::helpers`.
fn module_path(file: &str) -> String {
    let relative = file
        .trim_start_matches("tests/api/")
        .trim_end_matches(".rs");
    let mut path = String::from("crate");
    for part in relative.split('/') {
        if part != "mod" && part != "main" {
            path.push_str("::");
            path.push_str(part);
        }
    }
    path
}

/// Where `name`, defined in `file`, can be reached from any module of the test crate:
/// each module on the way below the root must be `pub mod`, or its parent must re-export
/// the name (`pub use helpers::*;`, `pub use helpers::{spawn_app, ...};`), which makes
/// the parent's path the shorter one.
fn visible_path(project: &Project, file: &str, name: &str) -> String {
    let full = module_path(file);
    let mut parts: Vec<String> = full.split("::").map(str::to_owned).collect();
    // Modules of the crate root are visible to all of the crate, public or not.
    while parts.len() > 2 {
        let child = parts[parts.len() - 1].clone();
        let parent_file = module_file(project, &parts[1..parts.len() - 1]);
        let text = project.read(&parent_file).unwrap_or_default();
        let reexports = text.lines().map(str::trim).any(|line| {
            let line = line
                .trim_start_matches("pub use ")
                .trim_start_matches("self::");
            line.starts_with(&format!("{child}::")) && (line.contains("::*") || line.contains(name))
        });
        let public = text.lines().map(str::trim).any(|line| {
            line == format!("pub mod {child};") || line == format!("pub(crate) mod {child};")
        });
        if reexports {
            parts.pop();
        } else if public {
            break;
        } else {
            // Not reachable as it stands: the compiler will say so.
            break;
        }
    }
    parts.join("::")
}

/// The file of module `crate::{path}` of the test crate.
fn module_file(project: &Project, path: &[String]) -> String {
    if path.is_empty() {
        return ROOT.to_owned();
    }
    let folder = path.join("/");
    let as_mod = format!("tests/api/{folder}/mod.rs");
    if project.exists(&as_mod) {
        as_mod
    } else {
        format!("tests/api/{folder}.rs")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_paths_become_module_paths() {
        assert_eq!(module_path("tests/api/helpers.rs"), "crate::helpers");
        assert_eq!(module_path("tests/api/support/mod.rs"), "crate::support");
        assert_eq!(
            module_path("tests/api/support/app.rs"),
            "crate::support::app"
        );
    }

    #[test]
    fn the_template_s_helpers_are_found() {
        let project = Project::locate().expect("the project");
        let support = locate(&project).expect("found");
        assert!(support.path("spawn_app").ends_with("::spawn_app"));
        assert!(support.uses().contains("spawn_app"));
        assert!(
            support.service.starts_with("crate::"),
            "{}",
            support.service
        );
        assert_eq!(support.schema_file, "tests/api/schema.rs");
    }
}
