//! `new resource NAME FIELD:TYPE...`: a REST resource under `/v1`, as `persons` is.
//!
//! The code is in `xtask/templates/resource/`: the migration (registered), the entity, the
//! controller, the views (with their routes and OpenAPI annotations, merged into the v1
//! router), the functional tests and the line of the migration drift test. This file
//! checks the request against the project and gives the templates their values.
use serde::Serialize;

use super::migration::{self, Stamp};
use super::template::{self, Templates};
use super::tests_support::{self, Support};
use crate::fields::{self, Field, Kind};
use crate::names::{self, camel, plural, words};
use crate::plan::Plan;
use crate::project::Project;

/// Columns every row has.
const RESERVED_FIELDS: &[&str] = &["id", "created_at", "updated_at", "table"];

/// What `cargo xtask new resource` was asked for.
pub struct Request<'a> {
    pub name: &'a str,
    pub plural: Option<&'a str>,
    pub specs: &'a [String],
}

/// Plans every file of the resource; its migration is stamped `stamp`.
pub fn plan(project: &Project, request: &Request, stamp: Stamp) -> Result<Plan, String> {
    let context = context(project, request, stamp)?;
    let templates = Templates::load(&project.root, "resource")?;
    let mut plan = Plan::new(&project.root);
    template::plan(&mut plan, templates.render(&context)?)?;
    Ok(plan)
}

/// The templates' values for `request`, once it is checked against the project.
fn context(project: &Project, request: &Request, stamp: Stamp) -> Result<Context, String> {
    let (one, many) = check_names(project, request.name, request.plural)?;
    if request.specs.is_empty() {
        return Err(format!(
            "resource {:?} needs at least one FIELD:TYPE (types: {})",
            request.name,
            fields::KNOWN_TYPES
        ));
    }
    let fields = fields::parse_all(request.specs, RESERVED_FIELDS)?;
    let migration = migration::module_name(project, &format!("create_{many}"), stamp)?;
    describe(project, one, many, &fields, migration)
}

/// The templates' values for resource `one` (`many`), its migration named `migration`.
fn describe(
    project: &Project,
    one: String,
    many: String,
    fields: &[Field],
    migration: String,
) -> Result<Context, String> {
    let support = tests_support::locate(project)?;
    let fields = fields
        .iter()
        .map(|field| FieldContext::new(project, &support, field))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Context::new(one, many, migration, fields, &support))
}

/// Checks the name and its plural against what the project has: modules, tables, routes.
fn check_names(
    project: &Project,
    name: &str,
    plural_name: Option<&str>,
) -> Result<(String, String), String> {
    names::check_identifier(name, "resource name")?;
    let many = match plural_name {
        Some(given) => {
            names::check_identifier(given, "plural")?;
            given.to_owned()
        }
        None => plural(name),
    };
    if many == name {
        return Err(format!(
            "the plural of {name:?} must differ from it (give one with --plural)"
        ));
    }
    for candidate in [name, many.as_str()] {
        if project.is_reserved(candidate) {
            return Err(format!(
                "{candidate:?} is reserved: a route, module or crate of the service has that name"
            ));
        }
    }
    if project.model_table(name).is_some() || project.tables().contains(&many) {
        return Err(format!("resource {name:?} ({many}) exists already"));
    }
    for (what, found, candidate) in [
        ("model", project.modules("src/models"), name),
        ("table", project.tables(), &many),
        ("route under /v1", project.routes(), &many),
        ("controller", project.modules("src/controllers"), &many),
        ("v1 module", project.modules("src/api/v1"), &many),
        ("module of the API", project.modules("src/api"), &many),
        ("module of the service", project.modules("src"), &many),
        ("module of the service", project.modules("src"), name),
        ("test module", project.modules("tests/api"), &many),
    ] {
        if found.iter().any(|f| f == candidate) {
            return Err(format!(
                "{candidate:?} is taken: the project has a {what} by that name"
            ));
        }
    }
    Ok((name.to_owned(), many))
}

/// Everything the resource templates use. The names are the forms of the resource's
/// name: `one` (`line_item`), `many` (`line_items`), `One` (`LineItem`), `Many`
/// (`LineItems`), in words (`line item`) and with an article (`a line item`).
#[derive(Serialize)]
#[allow(non_snake_case)] // `One` and `Many` read as what they stand for in the templates
struct Context {
    one: String,
    many: String,
    One: String,
    Many: String,
    one_words: String,
    many_words: String,
    a_one: String,
    A_one: String,
    /// DeriveIden cannot tell where the words of a name with digits break.
    many_has_digits: bool,
    /// The migration's module: `m20250101_000001_create_line_items`.
    migration: String,
    fields: Vec<FieldContext>,
    /// The fields that refer to other resources.
    references: Vec<FieldContext>,
    /// The tables they refer to, each once.
    referenced_tables: Vec<Target>,
    /// Whether a field is optional.
    optional: bool,
    /// Whether a field has a rule that `Checks` enforces.
    checked: bool,
    /// Whether the views need `api::fields` (a field documented or read by it).
    uses_api_fields: bool,
    /// The test crate's path of the service (`crate::service`), its `use` lines for the
    /// test helpers, and the file of the migration drift test.
    service: String,
    test_uses: String,
    schema_file: String,
}

impl Context {
    fn new(
        one: String,
        many: String,
        migration: String,
        fields: Vec<FieldContext>,
        support: &Support,
    ) -> Self {
        let article = if one.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        let a_one = format!("{article} {}", words(&one));
        let mut capital = a_one.clone();
        capital[..1].make_ascii_uppercase();
        let references: Vec<FieldContext> = fields
            .iter()
            .filter(|f| f.target.is_some())
            .cloned()
            .collect();
        let mut referenced_tables: Vec<Target> = Vec::new();
        for target in references.iter().filter_map(|f| f.target.as_ref()) {
            if !referenced_tables.iter().any(|t| t.many == target.many) {
                referenced_tables.push(target.clone());
            }
        }
        Self {
            One: camel(&one),
            Many: camel(&many),
            one_words: words(&one),
            many_words: words(&many),
            a_one,
            A_one: capital,
            many_has_digits: has_digits(&many),
            migration,
            optional: fields.iter().any(|f| f.optional),
            checked: fields.iter().any(|f| f.checked),
            uses_api_fields: fields
                .iter()
                .any(|f| f.optional || !matches!(f.kind, "bool" | "json")),
            references,
            referenced_tables,
            fields,
            service: support.service.clone(),
            test_uses: support.uses(),
            schema_file: support.schema_file.clone(),
            one,
            many,
        }
    }
}

/// One field, as the templates see it.
#[derive(Clone, Serialize)]
struct FieldContext {
    /// The column, field and JSON name: `due_on`, `invoice_id`.
    name: String,
    /// Its DeriveIden variant (`DueOn`), and the prefix of its constants (`DUE_ON`).
    camel: String,
    upper: String,
    has_digits: bool,
    /// `string`, `text`, `bool`, `i32`, `i64`, `f64`, `date`, `datetime`, `uuid`, `json`
    /// or `reference`.
    kind: &'static str,
    optional: bool,
    /// Whether a value of the right type can still be refused (a `Checks` rule).
    checked: bool,
    /// The longest string, in characters.
    length: Option<u32>,
    range: Option<RangeContext>,
    target: Option<Target>,
}

/// The accepted values of a whole number, and one just outside them (for the tests).
#[derive(Clone, Serialize)]
struct RangeContext {
    min: i64,
    max: i64,
    outside: i64,
}

/// The resource a reference points to.
#[derive(Clone, Serialize)]
#[allow(non_snake_case)]
struct Target {
    one: String,
    many: String,
    Many: String,
    words: String,
    many_has_digits: bool,
    /// Its relation's name in the model (`Invoice`).
    variant: String,
    /// The tests' fixture that makes one (`crate::invoices::create_invoice`).
    fixture: String,
}

impl FieldContext {
    fn new(project: &Project, support: &Support, field: &Field) -> Result<Self, String> {
        let target = match &field.kind {
            Kind::References(target) => Some(resolve(project, support, target)?),
            _ => None,
        };
        let range = field.kind.range().map(|range| RangeContext {
            min: range.min,
            max: range.max,
            outside: if range.min > kind_min(&field.kind) {
                range.min - 1
            } else {
                range.max + 1
            },
        });
        let checked = match field.kind {
            Kind::Bool | Kind::F64 => false,
            Kind::I32(range) | Kind::I64(range) => range.is_some(),
            _ => true,
        };
        Ok(Self {
            camel: camel(&field.name),
            upper: field.name.to_ascii_uppercase(),
            has_digits: has_digits(&field.name),
            kind: field.kind.label(),
            optional: field.optional,
            checked,
            length: match field.kind {
                Kind::String(length) => Some(length),
                _ => None,
            },
            range,
            target,
            name: field.name.clone(),
        })
    }
}

/// The smallest value of a whole number's type.
fn kind_min(kind: &Kind) -> i64 {
    match kind {
        Kind::I32(_) => i32::MIN.into(),
        _ => i64::MIN,
    }
}

/// The resource `target` of a reference: it must exist, with a fixture in its tests.
fn resolve(project: &Project, support: &Support, target: &str) -> Result<Target, String> {
    let many = project.model_table(target).ok_or_else(|| {
        format!(
            "{target:?} is not a resource of the project (no src/models/{target}.rs): a reference needs the resource it refers to"
        )
    })?;
    let fixture = support.fixture(project, target).ok_or_else(|| {
        format!(
            "the tests of {many} have no `pub async fn create_{target}(app: &TestApp) -> Value` to make one with (generated resources have one); add it, or add the reference by hand"
        )
    })?;
    Ok(Target {
        one: target.to_owned(),
        Many: camel(&many),
        words: words(target),
        many_has_digits: has_digits(&many),
        variant: camel(target),
        fixture,
        many,
    })
}

fn has_digits(name: &str) -> bool {
    name.chars().any(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::new::template::IfExists;

    /// What the comparison leaves out of the project: build output and git's own files.
    fn left_out(name: &std::ffi::OsStr) -> bool {
        name == "target" || name == ".git"
    }

    /// Copies `from` into `to`, what [`left_out`] names aside.
    fn copy(from: &Path, to: &Path) {
        if from.is_dir() {
            std::fs::create_dir_all(to).expect("a folder");
            for entry in std::fs::read_dir(from).expect("a folder").flatten() {
                if !left_out(&entry.file_name()) {
                    copy(&entry.path(), &to.join(entry.file_name()));
                }
            }
        } else {
            std::fs::copy(from, to).expect("a copy");
        }
    }

    /// Every file of the project in `root`, relative to it, with its content.
    fn files(root: &Path) -> Vec<(String, String)> {
        fn walk(root: &Path, at: &Path, found: &mut Vec<(String, String)>) {
            if at.is_dir() {
                for entry in std::fs::read_dir(at).expect("a folder").flatten() {
                    if !left_out(&entry.file_name()) {
                        walk(root, &entry.path(), found);
                    }
                }
            } else if let Ok(relative) = at.strip_prefix(root) {
                let text = std::fs::read_to_string(at).unwrap_or_default();
                found.push((relative.to_string_lossy().replace('\\', "/"), text));
            }
        }
        let mut found = Vec::new();
        walk(root, root, &mut found);
        found.sort();
        found
    }

    /// Takes out of the project in `root` what the rendered templates write: the files
    /// they create, and the lines they add to others. What the project lacks stays
    /// lacking: the comparison names it.
    fn ungenerate(root: &Path, rendered: &[template::Rendered]) {
        for template in rendered {
            if let Some(to) = &template.to
                && template.if_exists == IfExists::Refuse
                && root.join(to).exists()
            {
                std::fs::remove_file(root.join(to)).expect(to);
            }
            for injection in &template.injections {
                let path = root.join(&injection.into);
                let mut lines: Vec<String> = std::fs::read_to_string(&path)
                    .expect(&injection.into)
                    .lines()
                    .map(str::to_owned)
                    .collect();
                for added in injection.content.lines().map(str::trim) {
                    if let Some(at) = lines.iter().position(|line| line.trim() == added) {
                        lines.remove(at);
                    }
                }
                std::fs::write(&path, lines.join("\n") + "\n").expect(&injection.into);
            }
        }
    }

    /// `persons` teaches what the generator writes: taken out of a copy of the project
    /// and generated again, every file is as it was, byte for byte (its birthday and its
    /// old route name live in files of their own).
    #[test]
    fn persons_is_what_the_generator_writes() {
        let project = Project::locate().expect("the project");
        let scratch = tempfile::tempdir().expect("a scratch folder");
        copy(&project.root, scratch.path());
        let copy = Project::at(scratch.path().to_owned()).expect("the copy");
        let specs = ["name:string(200)".to_owned(), "age:i32(0..=150)".to_owned()];
        let module = "m20250101_000001_create_persons";
        let fields = fields::parse_all(&specs, RESERVED_FIELDS).expect("fields");
        let context = describe(
            &copy,
            "person".into(),
            "persons".into(),
            &fields,
            module.into(),
        )
        .expect("described");
        let rendered = Templates::load(&copy.root, "resource")
            .and_then(|templates| templates.render(&context))
            .expect("rendered");
        ungenerate(&copy.root, &rendered);
        assert_ne!(files(&copy.root), files(&project.root), "taken out");

        let request = Request {
            name: "person",
            plural: None,
            specs: &specs,
        };
        let stamp = Stamp::At(migration::seconds_of(module).expect("a stamp"));
        let mut plan = plan(&copy, &request, stamp).expect("planned");
        plan.format().expect("formatted");
        plan.apply().expect("written");

        let (now, then) = (files(&copy.root), files(&project.root));
        let differ: std::collections::BTreeSet<&str> = then
            .iter()
            .chain(&now)
            .filter(|file| !now.contains(file) || !then.contains(file))
            .map(|(path, _)| path.as_str())
            .collect();
        assert!(
            differ.is_empty(),
            "`cargo xtask new resource person name:string(200) age:i32(0..=150)` writes these otherwise: {differ:?}"
        );
    }

    #[test]
    fn names_that_are_taken_or_reserved_are_refused() {
        let project = Project::locate().expect("the project");
        for (name, plural, says) in [
            ("person", None, "exists already"),
            ("task", None, "exists already"),
            ("people_thing", Some("persons"), "exists already"),
            ("log", None, "taken"),
            ("birthday", None, "taken"),
            ("metric", None, "reserved"),
            ("mon", Some("mon_items"), "reserved"),
            ("doc", None, "reserved"),
            ("serde", Some("serdes"), "reserved"),
            ("Invoice", None, "snake_case"),
            ("match", None, "keyword"),
            ("sheep", Some("sheep"), "must differ"),
        ] {
            let error = check_names(&project, name, plural)
                .err()
                .unwrap_or_default();
            assert!(error.contains(says), "{name} {plural:?}: {error:?}");
        }
        assert!(check_names(&project, "invoice", None).is_ok());
    }
}
