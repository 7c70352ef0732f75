//! `new resource NAME FIELD:TYPE...`: a REST resource under `/v1`, shaped like `persons`.
//!
//! Writes the migration (registered), the entity, the controller, the views (registered
//! in the v1 router, each with its OpenAPI annotation), the functional tests, and
//! registers the entity with the migration drift test.
use super::fill::{fill, leftovers};
use super::{inject, migration, tests_support};
use crate::fields::{self, Field, Kind};
use crate::names::{self, camel, plural, words};
use crate::plan::Plan;
use crate::project::Project;

const MODEL: &str = include_str!("../../templates/resource/model.rs.txt");
const MIGRATION: &str = include_str!("../../templates/resource/migration.rs.txt");
const CONTROLLER: &str = include_str!("../../templates/resource/controller.rs.txt");
const VIEW: &str = include_str!("../../templates/resource/view.rs.txt");
const TESTS: &str = include_str!("../../templates/resource/tests.rs.txt");
const TESTS_OPTIONAL: &str = include_str!("../../templates/resource/tests_optional.rs.txt");
const TESTS_REFERENCES: &str = include_str!("../../templates/resource/tests_references.rs.txt");

/// Columns every row has.
const RESERVED_FIELDS: &[&str] = &["id", "created_at", "updated_at", "table"];

/// A reference, resolved: the field, and the table and route it points to.
struct Reference {
    field: String,
    /// The referenced resource's singular name (its model module).
    target: String,
    table: String,
    optional: bool,
}

/// The names a resource goes by.
struct Names {
    one: String,
    many: String,
}

/// Plans every file of resource `name` with `specs` (`FIELD:TYPE`).
pub fn plan(
    project: &Project,
    name: &str,
    plural_name: Option<&str>,
    specs: &[String],
) -> Result<Plan, String> {
    let names = check_names(project, name, plural_name)?;
    if specs.is_empty() {
        return Err(format!(
            "resource {name:?} needs at least one FIELD:TYPE (types: {})",
            fields::KNOWN_TYPES
        ));
    }
    let fields = fields::parse_all(specs, RESERVED_FIELDS)?;
    let references = resolve_references(project, &fields)?;
    let support = tests_support::locate(project)?;
    for reference in &references {
        if support.fixture(project, &reference.target).is_none() {
            return Err(format!(
                "the tests of {} have no `pub async fn create_{}(app: &TestApp) -> Value` to make one with (generated resources have one); add it, or add the reference by hand",
                reference.table, reference.target
            ));
        }
    }

    let mut plan = Plan::new(&project.root);
    let values = Values::new(&names, &fields, &references, project, &support);
    let one = &names.one;
    let many = &names.many;
    let filled = |template: &str| -> Result<String, String> {
        let text = fill(template, &values.pairs);
        match leftovers(&text).first() {
            Some(marker) => Err(format!("the generator left {marker} unfilled (a bug)")),
            None => Ok(text),
        }
    };

    let migration_text = filled(MIGRATION)?;
    migration::add(
        &mut plan,
        project,
        &format!("create_{many}"),
        migration_text,
        migration::now(),
    )?;
    plan.create(&format!("src/models/{one}.rs"), filled(MODEL)?)?;
    plan.edit("src/models/mod.rs", |text| {
        inject::module(text, "pub mod", one, "src/models/mod.rs")
    })?;
    plan.create(&format!("src/controllers/{many}.rs"), filled(CONTROLLER)?)?;
    plan.edit("src/controllers/mod.rs", |text| {
        inject::module(text, "pub mod", many, "src/controllers/mod.rs")
    })?;
    plan.create(&format!("src/api/v1/{many}.rs"), filled(VIEW)?)?;
    plan.edit("src/api/v1/mod.rs", |text| {
        let text = inject::module(text, "pub mod", many, "src/api/v1/mod.rs")?;
        let routes = format!(
            ".routes(routes!({many}::list, {many}::create))\n\
             .routes(routes!({many}::get, {many}::replace, {many}::update, {many}::delete))"
        );
        inject::before_marker(&text, inject::ROUTES_MARKER, &routes, "src/api/v1/mod.rs")
    })?;
    let mut tests = filled(TESTS)?;
    if fields.iter().any(|f| f.optional) {
        tests.push_str(&filled(TESTS_OPTIONAL)?);
    }
    for reference in &references {
        let route = reference.table.clone();
        let pairs = [
            ("__reference_field__", reference.field.clone()),
            ("__target_route__", route),
            ("__resources__", many.clone()),
            ("__resource__", one.clone()),
        ];
        tests.push_str(&fill(TESTS_REFERENCES, &pairs));
    }
    plan.create(&format!("tests/api/{many}.rs"), tests)?;
    plan.edit("tests/api/main.rs", |text| {
        inject::module(text, "mod", many, "tests/api/main.rs")
    })?;
    plan.edit(&support.schema_file, |text| {
        let line = format!(
            "problems.extend(drift::<{}::models::{one}::Entity>(&db).await);",
            support.service
        );
        inject::before_marker(text, inject::DRIFT_MARKER, &line, &support.schema_file)
    })?;
    Ok(plan)
}

/// Checks the name and its plural against what the project has: modules, tables, routes.
fn check_names(project: &Project, name: &str, plural_name: Option<&str>) -> Result<Names, String> {
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
    let taken = |what: &str, found: &[String], candidate: &str| -> Result<(), String> {
        if found.iter().any(|f| f == candidate) {
            return Err(format!(
                "{candidate:?} is taken: the project has a {what} by that name"
            ));
        }
        Ok(())
    };
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
    taken("model", &project.modules("src/models"), name)?;
    taken("table", &project.tables(), &many)?;
    taken("route under /v1", &project.routes(), &many)?;
    taken("controller", &project.modules("src/controllers"), &many)?;
    taken("v1 module", &project.modules("src/api/v1"), &many)?;
    taken("module of the API", &project.modules("src/api"), &many)?;
    taken("module of the service", &project.modules("src"), &many)?;
    taken("module of the service", &project.modules("src"), name)?;
    taken("test module", &project.modules("tests/api"), &many)?;
    Ok(Names {
        one: name.to_owned(),
        many,
    })
}

/// Finds the table of each `references` field; the resource must exist.
fn resolve_references(project: &Project, fields: &[Field]) -> Result<Vec<Reference>, String> {
    let mut references = Vec::new();
    for field in fields {
        let Kind::References(target) = &field.kind else {
            continue;
        };
        let table = project.model_table(target).ok_or_else(|| {
            format!(
                "{target:?} is not a resource of the project (no src/models/{target}.rs): a reference needs the resource it refers to"
            )
        })?;
        references.push(Reference {
            field: field.name.clone(),
            target: target.clone(),
            table,
            optional: field.optional,
        });
    }
    Ok(references)
}

/// Every marker of the templates, filled in for one resource.
struct Values {
    pairs: Vec<(&'static str, String)>,
}

impl Values {
    fn new(
        names: &Names,
        fields: &[Field],
        references: &[Reference],
        project: &Project,
        support: &tests_support::Support,
    ) -> Self {
        let one = &names.one;
        let many = &names.many;
        let article = if one.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        let a_resource = format!("{article} {}", words(one));
        let mut capital = a_resource.clone();
        capital[..1].make_ascii_uppercase();

        let mut pairs: Vec<(&'static str, String)> = vec![
            ("__resource__", one.clone()),
            ("__resources__", many.clone()),
            ("__Resource__", camel(one)),
            ("__Resources__", camel(many)),
            ("__a_resource__", a_resource),
            ("__A_resource__", capital),
            ("__resource_words__", words(one)),
            ("__resources_words__", words(many)),
        ];
        pairs.extend(model_blocks(fields, references));
        pairs.extend(migration_blocks(many, fields, references));
        pairs.extend(controller_blocks(fields, references));
        pairs.extend(view_blocks(many, fields));
        pairs.extend(test_blocks(fields, references, project, support));
        Self { pairs }
    }
}

/// How each kind of field is stored, checked, shown and documented.
struct Shape {
    /// The entity's field type.
    model: &'static str,
    /// An attribute of the entity's field.
    column_type: Option<String>,
    /// The migration's column function (`_null` is added for optional fields).
    column: String,
    /// The type a request gives (before the checks).
    input: &'static str,
    /// The type a checked value has (as stored).
    checked: &'static str,
    /// The `Checks` call that turns `v` (the input) into the checked value.
    check: Option<Check>,
    /// The type the views show.
    body: &'static str,
    /// The `api::fields` schema of the request field (`text::<NUMBER_MAX_CHARS>`); its
    /// `optional_` twin documents a field that may be left out or null.
    schema: Option<String>,
    /// Without a schema function, the type documented for a nullable field.
    nullable_type: &'static str,
    /// `api::fields::whole` readers (`i32`: `whole::i32`, `whole::optional_i32` ...).
    whole: Option<&'static str>,
    /// Two valid values (JSON), and one that is the right type but fails its check.
    good: [String; 2],
    bad: Option<&'static str>,
    /// A value of the wrong type.
    wrong_type: &'static str,
}

/// A method of `Checks`: whether it returns the value, or an `Option` of it.
struct Check {
    call: String,
    parses: bool,
}

/// The longest `string` column's constant name.
fn max_chars_const(field: &str) -> String {
    format!("{}_MAX_CHARS", field.to_ascii_uppercase())
}

fn shape(field: &Field) -> Shape {
    let name = &field.name;
    let check = |call: String, parses| Some(Check { call, parses });
    let plain = |model, column: &str, schema: Option<&str>, good: [&str; 2], wrong| Shape {
        model,
        column_type: None,
        column: column.to_owned(),
        input: model,
        checked: model,
        check: None,
        body: model,
        schema: schema.map(str::to_owned),
        nullable_type: model,
        whole: None,
        good: good.map(str::to_owned),
        bad: None,
        wrong_type: wrong,
    };
    let parsed =
        |model, column: &str, checked, body, method: &str, schema: &str, good: [&str; 2], bad| {
            Shape {
                model,
                column_type: None,
                column: column.to_owned(),
                input: "String",
                checked,
                check: check(format!("checks.{method}(\"{name}\", &v)"), true),
                body,
                schema: Some(schema.to_owned()),
                nullable_type: "String",
                whole: None,
                good: good.map(str::to_owned),
                bad: Some(bad),
                wrong_type: "json!(20250131)",
            }
        };
    match &field.kind {
        Kind::String(length) => {
            let sample = |word: &str| {
                let cut: String = word.chars().take(*length as usize).collect();
                format!("{cut:?}")
            };
            let max = max_chars_const(name);
            Shape {
                model: "String",
                column_type: Some(format!("String(StringLen::N({length}))")),
                column: format!("string_len(__COLUMN__, {length})"),
                input: "String",
                checked: "String",
                check: check(format!("checks.text(\"{name}\", &v, {max})"), false),
                body: "String",
                schema: Some(format!("text::<{max}>")),
                nullable_type: "String",
                whole: None,
                good: [sample("first"), sample("second")],
                bad: Some(r#"json!("   ")"#),
                wrong_type: "json!(42)",
            }
        }
        Kind::Text => Shape {
            model: "String",
            column_type: Some("Text".into()),
            column: "text(__COLUMN__)".into(),
            input: "String",
            checked: "String",
            check: check(format!("checks.long_text(\"{name}\", &v)"), false),
            body: "String",
            schema: Some("long_text".into()),
            nullable_type: "String",
            whole: None,
            good: [
                r#""First line\nsecond line""#.into(),
                r#""Another text""#.into(),
            ],
            bad: Some(r#"json!(" \n ")"#),
            wrong_type: "json!(42)",
        },
        Kind::Bool => plain(
            "bool",
            "boolean(__COLUMN__)",
            None,
            ["true", "false"],
            "json!(\"yes\")",
        ),
        Kind::I32 => Shape {
            whole: Some("i32"),
            ..plain(
                "i32",
                "integer(__COLUMN__)",
                Some("int32"),
                ["42", "-7"],
                "json!(\"forty-two\")",
            )
        },
        Kind::I64 => Shape {
            whole: Some("i64"),
            ..plain(
                "i64",
                "big_integer(__COLUMN__)",
                Some("int64"),
                ["4_200_000_000_i64", "-9"],
                "json!(\"forty-two\")",
            )
        },
        Kind::F64 => plain(
            "f64",
            "double(__COLUMN__)",
            Some("double"),
            ["1.5", "-2.25"],
            "json!(\"1.5\")",
        ),
        Kind::Date => parsed(
            "Date",
            "date(__COLUMN__)",
            "chrono::NaiveDate",
            "chrono::NaiveDate",
            "date",
            "date",
            [r#""2025-01-31""#, r#""2024-02-29""#],
            r#"json!("2025-02-30")"#,
        ),
        Kind::DateTime => parsed(
            "DateTimeUtc",
            "timestamp_with_time_zone(__COLUMN__)",
            "chrono::DateTime<chrono::Utc>",
            "DateTime<Utc>",
            "datetime",
            "datetime",
            [r#""2025-01-31T09:30:00Z""#, r#""2024-02-29T23:59:59.500Z""#],
            r#"json!("2025-01-31 09:30")"#,
        ),
        Kind::Uuid => parsed(
            "Uuid",
            "uuid(__COLUMN__)",
            "uuid::Uuid",
            "uuid::Uuid",
            "uuid",
            "uuid",
            [
                r#""67e55044-10b1-426f-9247-bb680e5fe0c8""#,
                r#""00000000-0000-4000-8000-000000000001""#,
            ],
            r#"json!("not-a-uuid")"#,
        ),
        Kind::Json => Shape {
            model: "Json",
            column_type: Some("JsonBinary".into()),
            column: "json_binary(__COLUMN__)".into(),
            input: "serde_json::Value",
            checked: "serde_json::Value",
            check: check(
                format!("checks.json(\"{name}\", v, db.get_database_backend())"),
                false,
            ),
            body: "serde_json::Value",
            schema: None,
            nullable_type: "serde_json::Value",
            whole: None,
            good: [r#"{"any": ["json", 1, true]}"#.into(), "[1, 2, 3]".into()],
            // Refused on PostgreSQL only (U+0000): `Checks::json`'s own tests cover it.
            bad: None,
            wrong_type: "",
        },
        Kind::References(_) => Shape {
            whole: Some("i64"),
            ..plain(
                "i64",
                "big_integer(__COLUMN__)",
                Some("int64"),
                ["0", "0"],
                "json!(\"one\")",
            )
        },
    }
}

fn optional(ty: &str, field: &Field) -> String {
    if field.optional {
        format!("Option<{ty}>")
    } else {
        ty.to_owned()
    }
}

/// `template` with each `$name` replaced: code fragments with braces, which `format!`
/// would need doubled.
fn sub(template: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    let mut ordered: Vec<&(&str, &str)> = pairs.iter().collect();
    ordered.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, value) in ordered {
        out = out.replace(name, value);
    }
    out
}

/// A string literal's list: `"a", "b"`.
fn quoted_list<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    names
        .into_iter()
        .map(|name| format!("{name:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The model's name of a reference's relation: `invoice_id` → `Invoice`.
fn relation_variant(reference: &Reference) -> String {
    camel(reference.field.trim_end_matches("_id"))
}

fn model_blocks(fields: &[Field], references: &[Reference]) -> Vec<(&'static str, String)> {
    let mut model = String::new();
    for field in fields {
        let shape = shape(field);
        if let Some(column_type) = &shape.column_type {
            model.push_str(&format!("#[sea_orm(column_type = \"{column_type}\")]\n"));
        }
        model.push_str(&format!(
            "pub {}: {},\n",
            field.name,
            optional(shape.model, field)
        ));
    }
    let mut relations = String::new();
    let mut related = String::new();
    for reference in references {
        let pairs = [
            ("$target", reference.target.as_str()),
            ("$Column", &camel(&reference.field)),
            ("$Variant", &relation_variant(reference)),
        ];
        relations.push_str(&sub(
            "#[sea_orm(\n    belongs_to = \"super::$target::Entity\",\n    from = \"Column::$Column\",\n    to = \"super::$target::Column::Id\"\n)]\n$Variant,\n",
            &pairs,
        ));
        related.push_str(&sub(
            "\nimpl Related<super::$target::Entity> for Entity {\n    fn to() -> RelationDef {\n        Relation::$Variant.def()\n    }\n}\n",
            &pairs,
        ));
    }
    vec![
        ("__model_fields__", model),
        ("__relations__", relations),
        ("__related__", related),
    ]
}

/// DeriveIden takes names from the variants (`DueOn` → `due_on`); digits make that
/// guess unsure, so names with digits are given.
fn iden_variant(name: &str) -> String {
    if name.chars().any(|c| c.is_ascii_digit()) {
        format!("#[sea_orm(iden = \"{name}\")]\n{},\n", camel(name))
    } else {
        format!("{},\n", camel(name))
    }
}

fn migration_blocks(
    many: &str,
    fields: &[Field],
    references: &[Reference],
) -> Vec<(&'static str, String)> {
    let table = camel(many);
    let mut columns = String::new();
    let mut idens = String::new();
    for field in fields {
        let shape = shape(field);
        let column = format!("{table}::{}", camel(&field.name));
        let mut function = shape.column.replace("__COLUMN__", &column);
        if field.optional {
            let open = function.find('(').unwrap_or(function.len());
            function.insert_str(open, "_null");
        }
        columns.push_str(&format!(".col({function})\n"));
        idens.push_str(&iden_variant(&field.name));
    }
    let mut foreign_keys = String::new();
    let mut indexes = String::new();
    let mut referenced = String::new();
    let mut seen: Vec<&str> = Vec::new();
    for reference in references {
        let target = camel(&reference.table);
        let pairs = [
            ("$table", many),
            ("$Table", table.as_str()),
            ("$field", reference.field.as_str()),
            ("$Field", &camel(&reference.field)),
            ("$Target", target.as_str()),
        ];
        foreign_keys.push_str(&sub(
            ".foreign_key(\n    ForeignKey::create()\n        .name(\"fk_$table_$field\")\n        .from($Table::Table, $Table::$Field)\n        .to($Target::Table, $Target::Id)\n        .on_delete(ForeignKeyAction::Restrict),\n)\n",
            &pairs,
        ));
        // PostgreSQL does not index a foreign key by itself; deletes of the referenced
        // rows and lookups by it need one.
        indexes.push_str(&sub(
            "manager\n    .create_index(\n        Index::create()\n            .name(\"$table_$field\")\n            .table($Table::Table)\n            .col($Table::$Field)\n            .to_owned(),\n    )\n    .await?;\n",
            &pairs,
        ));
        if !seen.contains(&reference.table.as_str()) {
            seen.push(&reference.table);
            let table_iden = if reference.table.chars().any(|c| c.is_ascii_digit()) {
                format!("#[sea_orm(iden = \"{}\")]\nTable,\n", reference.table)
            } else {
                "Table,\n".to_owned()
            };
            referenced.push_str(&sub(
                "\n#[derive(DeriveIden)]\nenum $Target {\n$table_iden    Id,\n}\n",
                &[("$Target", target.as_str()), ("$table_iden", &table_iden)],
            ));
        }
    }
    let table_iden = if many.chars().any(|c| c.is_ascii_digit()) {
        format!("#[sea_orm(iden = \"{many}\")]\nTable,")
    } else {
        "Table,".to_owned()
    };
    vec![
        ("__columns__", columns),
        ("__foreign_keys__", foreign_keys),
        ("__indexes__", indexes),
        ("__table_iden__", table_iden),
        ("__idens__", idens),
        ("__referenced_idens__", referenced),
    ]
}

fn controller_blocks(fields: &[Field], references: &[Reference]) -> Vec<(&'static str, String)> {
    let checks = fields.iter().any(|f| shape(f).check.is_some());
    let mut uses = vec!["Checks", "Error"];
    if !references.is_empty() {
        uses.push("FieldError");
    }
    uses.extend(["Page", "Paged"]);
    let controller_uses = format!("use super::{};", "{".to_owned() + &uses.join(", ") + "}");

    let mut constants = String::new();
    let mut input = String::new();
    let mut changes = String::new();
    let mut checked = String::new();
    let mut from_input = String::new();
    let mut check_fields = String::new();
    let mut create_sets = String::new();
    let mut update_sets = String::new();
    for field in fields {
        let name = &field.name;
        let shape = shape(field);
        if let Kind::String(length) = field.kind {
            constants.push_str(&format!(
                "/// Longest accepted `{name}`, in characters (the column holds {length}).\npub const {}: usize = {length};\n",
                max_chars_const(name)
            ));
        }
        input.push_str(&format!("pub {name}: {},\n", optional(shape.input, field)));
        let (change, stored) = if field.optional {
            (
                format!("Option<Option<{}>>", shape.input),
                format!("Option<Option<{}>>", shape.checked),
            )
        } else {
            (
                format!("Option<{}>", shape.input),
                format!("Option<{}>", shape.checked),
            )
        };
        changes.push_str(&format!("pub {name}: {change},\n"));
        checked.push_str(&format!("{name}: {stored},\n"));
        from_input.push_str(&format!("{name}: Some(input.{name}),\n"));
        let check = match (&shape.check, field.optional) {
            (None, _) => format!("{name}: self.{name},\n"),
            (Some(check), false) if check.parses => {
                format!("{name}: self.{name}.and_then(|v| {}),\n", check.call)
            }
            (Some(check), false) => format!("{name}: self.{name}.map(|v| {}),\n", check.call),
            (Some(check), true) if check.parses => {
                format!(
                    "{name}: self.{name}.map(|v| v.and_then(|v| {})),\n",
                    check.call
                )
            }
            (Some(check), true) => {
                format!("{name}: self.{name}.map(|v| v.map(|v| {})),\n", check.call)
            }
        };
        check_fields.push_str(&check);
        if field.optional {
            create_sets.push_str(&format!("{name}: Set(checked.{name}.flatten()),\n"));
        } else {
            create_sets.push_str(&format!(
                "{name}: Set(checked.{name}.unwrap_or_default()),\n"
            ));
        }
        update_sets.push_str(&sub(
            "if let Some(value) = checked.$name {\n    row.$name = Set(value);\n}\n",
            &[("$name", name)],
        ));
    }

    let mut check_references = String::new();
    let mut problems = Vec::new();
    for reference in references {
        let pattern = if reference.optional {
            "Some(Some(id))"
        } else {
            "Some(id)"
        };
        check_references.push_str(&sub(
            "if let $pattern = checked.$field\n    && crate::models::$target::Entity::find_by_id(id)\n        .one(db)\n        .await?\n        .is_none()\n{\n    checks.fail(\"$field\", \"no $words has this id\");\n}\n",
            &[
                ("$pattern", pattern),
                ("$field", &reference.field),
                ("$target", &reference.target),
                ("$words", &words(&reference.target)),
            ],
        ));
        problems.push(format!(
            "FieldError::new(\"{}\", \"must be the id of an existing {}\")",
            reference.field,
            words(&reference.target)
        ));
    }
    let (stored_fn, insert, updated) = if references.is_empty() {
        (
            String::new(),
            "Ok(row.insert(db).await?)".to_owned(),
            "result => Ok(result?),".to_owned(),
        )
    } else {
        (
            sub(
                "/// A write refused by a foreign key: a row it refers to went away meanwhile.\nfn stored(result: Result<__resource__::Model, DbErr>) -> Result<__resource__::Model, Error> {\n    match result {\n        Err(error) if matches!(error.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {\n            Err(Error::Invalid(vec![$problems]))\n        }\n        result => Ok(result?),\n    }\n}\n",
                &[("$problems", &problems.join(", "))],
            ),
            "stored(row.insert(db).await)".to_owned(),
            "result => stored(result),".to_owned(),
        )
    };
    let needs_db = !references.is_empty() || fields.iter().any(|f| f.kind == Kind::Json);
    vec![
        ("__controller_uses__", controller_uses),
        ("__controller_imports__", String::new()),
        ("__constants__", constants),
        ("__input_fields__", input),
        ("__changes_fields__", changes),
        ("__checked_fields__", checked),
        ("__changes_from_input__", from_input),
        (
            "__checks_binding__",
            if checks || !references.is_empty() {
                "let mut checks"
            } else {
                "let checks"
            }
            .to_owned(),
        ),
        ("__check_fields__", check_fields),
        (
            "__check_db__",
            if needs_db { "db" } else { "_db" }.to_owned(),
        ),
        ("__check_references__", check_references),
        ("__stored_fn__", stored_fn),
        ("__insert__", insert),
        ("__updated__", updated),
        ("__create_sets__", create_sets),
        ("__update_sets__", update_sets),
    ]
}

/// `#[schema(...)]` of a request field: its `api::fields` schema (the `optional_` one
/// when the field may be left out or null), or, without one, the nullable type of a field
/// that serde reads as a double `Option`.
fn schema_attribute(shape: &Shape, nullable: bool, clearable: bool) -> String {
    match (&shape.schema, nullable) {
        (Some(schema), false) => format!("#[schema(schema_with = fields::{schema})]\n"),
        (Some(schema), true) => format!("#[schema(schema_with = fields::optional_{schema})]\n"),
        (None, _) if clearable => {
            format!("#[schema(value_type = Option<{}>)]\n", shape.nullable_type)
        }
        (None, _) => String::new(),
    }
}

fn view_blocks(many: &str, fields: &[Field]) -> Vec<(&'static str, String)> {
    let mut body = String::new();
    let mut from_row = String::new();
    let mut new_fields = String::new();
    let mut patch = String::new();
    let mut input_from_body = String::new();
    let mut changes_from_patch = String::new();
    let mut uses_fields = false;
    let mut constants = Vec::new();
    for field in fields {
        let name = &field.name;
        let shape = shape(field);
        body.push_str(&format!("pub {name}: {},\n", optional(shape.body, field)));
        from_row.push_str(&format!("{name}: row.{name},\n"));
        input_from_body.push_str(&format!("{name}: body.{name},\n"));
        changes_from_patch.push_str(&format!("{name}: body.{name},\n"));
        uses_fields |= shape.schema.is_some() || shape.whole.is_some() || field.optional;
        if let Kind::String(_) = field.kind {
            constants.push(max_chars_const(name));
        }
        if field.kind == Kind::Json {
            new_fields.push_str(
                "/// Any JSON value (on PostgreSQL, its strings may not contain U+0000).\n",
            );
            patch.push_str(
                "/// Any JSON value (on PostgreSQL, its strings may not contain U+0000).\n",
            );
        }

        // POST and PUT: optional fields may be left out or null.
        new_fields.push_str(&schema_attribute(&shape, field.optional, false));
        let serde = match (shape.whole, field.optional) {
            (Some(kind), false) => Some(format!("deserialize_with = \"fields::whole::{kind}\"")),
            (Some(kind), true) => Some(format!(
                "default, deserialize_with = \"fields::whole::optional_{kind}\""
            )),
            (None, true) => Some("default".to_owned()),
            (None, false) => None,
        };
        if let Some(serde) = serde {
            new_fields.push_str(&format!("#[serde({serde})]\n"));
        }
        new_fields.push_str(&format!("pub {name}: {},\n", optional(shape.input, field)));

        // PATCH: every field may be left out; null clears an optional one.
        patch.push_str(&schema_attribute(&shape, true, field.optional));
        let (serde, ty) = match (shape.whole, field.optional) {
            (Some(kind), false) => (
                format!("default, deserialize_with = \"fields::whole::optional_{kind}\""),
                format!("Option<{}>", shape.input),
            ),
            (Some(kind), true) => (
                format!("default, deserialize_with = \"fields::whole::clearable_{kind}\""),
                format!("Option<Option<{}>>", shape.input),
            ),
            (None, false) => ("default".to_owned(), format!("Option<{}>", shape.input)),
            (None, true) => (
                "default, deserialize_with = \"fields::clearable\"".to_owned(),
                format!("Option<Option<{}>>", shape.input),
            ),
        };
        patch.push_str(&format!("#[serde({serde})]\npub {name}: {ty},\n"));
    }
    let mut uses = String::from(
        "use crate::api::AppState;\nuse crate::api::error::{ApiResult, BodyErrors, ErrorBody, IdErrors, QueryErrors, ServerErrors};\nuse crate::api::extract::{Json, Path, Query};\n",
    );
    if uses_fields {
        uses.push_str("use crate::api::fields;\n");
    }
    uses.push_str("use crate::api::pagination::{PageBody, PageQuery};\n");
    let mut imported = vec![
        "self as controller".to_owned(),
        "__Resource__Changes".to_owned(),
        "__Resource__Input".to_owned(),
    ];
    imported.extend(constants);
    uses.push_str(&format!(
        "use crate::controllers::{many}::{};\n",
        "{".to_owned() + &imported.join(", ") + "}"
    ));
    vec![
        ("__view_uses__", uses),
        ("__body_fields__", body),
        ("__body_from_row__", from_row),
        ("__new_fields__", new_fields),
        ("__patch_fields__", patch),
        ("__input_from_body__", input_from_body),
        ("__changes_from_patch__", changes_from_patch),
    ]
}

fn test_blocks(
    fields: &[Field],
    references: &[Reference],
    project: &Project,
    support: &tests_support::Support,
) -> Vec<(&'static str, String)> {
    let reference_of = |field: &Field| references.iter().find(|r| r.field == field.name);
    let mut make_references = String::new();
    for reference in references {
        let fixture = support
            .fixture(project, &reference.target)
            .unwrap_or_default();
        make_references.push_str(&format!(
            "let {} = {fixture}(app).await;\n",
            reference.field.trim_end_matches("_id")
        ));
    }
    let mut body_a = String::new();
    let mut body_b = String::new();
    let mut bad_values = String::new();
    let mut bad_fields: Vec<&str> = Vec::new();
    for field in fields {
        let name = &field.name;
        let shape = shape(field);
        match reference_of(field) {
            Some(reference) => {
                let variable = reference.field.trim_end_matches("_id");
                body_a.push_str(&format!("        {name:?}: {variable}[\"id\"].clone(),\n"));
                body_b.push_str(&format!("        {name:?}: body[{name:?}].clone(),\n"));
            }
            None => {
                // Inside `json!`, which rustfmt leaves as it is: indented here.
                body_a.push_str(&format!("        {name:?}: {},\n", shape.good[0]));
                body_b.push_str(&format!("        {name:?}: {},\n", shape.good[1]));
            }
        }
        if let Some(bad) = shape.bad {
            bad_values.push_str(&format!("body[{name:?}] = {bad};\n"));
            bad_fields.push(name);
        }
    }
    for reference in references {
        bad_values.push_str(&format!("body[{:?}] = json!(i64::MAX);\n", reference.field));
        bad_fields.push(&reference.field);
    }
    let bad_values_block = if bad_fields.is_empty() {
        String::new()
    } else {
        sub(
            "let mut body = new___resource__(&app).await;\n$set\nlet (status, code, error) = error_of(app.post_json(\"/v1/__resources__\", &body).await).await;\nassert_eq!((status, code.as_str()), (422, \"validation_failed\"), \"{error}\");\nlet fields: Vec<&str> = error[\"error\"][\"details\"]\n    .as_array()\n    .expect(\"details\")\n    .iter()\n    .map(|d| d[\"field\"].as_str().expect(\"field\"))\n    .collect();\nassert_eq!(fields, [$fields]);\n",
            &[
                ("$set", &bad_values),
                ("$fields", &quoted_list(bad_fields.iter().copied())),
            ],
        )
    };
    let wrong_type_block = fields
        .iter()
        .map(|field| (field, shape(field)))
        .find(|(_, shape)| !shape.wrong_type.is_empty())
        .map(|(field, shape)| {
            sub(
                "let mut wrong = new___resource__(&app).await;\nwrong[\"$name\"] = $value;\nlet (status, _, error) = error_of(app.post_json(\"/v1/__resources__\", &wrong).await).await;\nassert_eq!(status, 422, \"{error}\");\nassert!(error.to_string().contains(\"$name\"), \"{error}\");\n",
                &[("$name", &field.name), ("$value", shape.wrong_type)],
            )
        })
        .unwrap_or_default();
    let missing_block = fields
        .iter()
        .find(|field| !field.optional)
        .map(|field| {
            sub(
                "let mut missing = new___resource__(&app).await;\nmissing.as_object_mut().expect(\"an object\").remove(\"$name\");\nlet (status, _, error) = error_of(app.post_json(\"/v1/__resources__\", &missing).await).await;\nassert_eq!(status, 422, \"{error}\");\nassert!(error.to_string().contains(\"$name\"), \"{error}\");\n",
                &[("$name", &field.name)],
            )
        })
        .unwrap_or_default();
    let first = &fields[0].name;
    let others: Vec<&str> = fields[1..].iter().map(|f| f.name.as_str()).collect();
    let others_unchanged = if others.is_empty() {
        String::new()
    } else if let [only] = others.as_slice() {
        // One field: a loop over one element is a lint.
        sub(
            "assert_eq!(changed[\"$name\"], replaced[\"$name\"], \"$name\");\n",
            &[("$name", only)],
        )
    } else {
        sub(
            "for field in [$others] {\n    assert_eq!(changed[field], replaced[field], \"{field}\");\n}\n",
            &[("$others", &quoted_list(others))],
        )
    };
    let optional_names = quoted_list(
        fields
            .iter()
            .filter(|f| f.optional)
            .map(|f| f.name.as_str()),
    );
    vec![
        ("__test_uses__", support.uses()),
        (
            "__app_param__",
            if references.is_empty() { "_app" } else { "app" }.to_owned(),
        ),
        ("__make_references__", make_references),
        ("__body_a__", body_a),
        ("__body_b__", body_b),
        ("__first_field__", first.clone()),
        ("__others_unchanged__", others_unchanged),
        ("__bad_values_block__", bad_values_block),
        ("__wrong_type_block__", wrong_type_block),
        ("__missing_block__", missing_block),
        ("__optional_names__", optional_names),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_marker_has_a_value() {
        let fields: Vec<Field> = [
            "number:string(80)",
            "note:text?",
            "paid:bool",
            "count:i32?",
            "amount_cents:i64",
            "rate:f64",
            "due_on:date?",
            "sent_at:datetime",
            "token:uuid?",
            "extra:json?",
        ]
        .iter()
        .map(|spec| Field::parse(spec).expect(spec))
        .collect();
        let references = [Reference {
            field: "person_id".into(),
            target: "person".into(),
            table: "persons".into(),
            optional: false,
        }];
        let project = Project::locate().expect("the project");
        let support = tests_support::locate(&project).expect("test support");
        let names = Names {
            one: "line_item".into(),
            many: "line_items".into(),
        };
        let values = Values::new(&names, &fields, &references, &project, &support);
        for template in [MODEL, MIGRATION, CONTROLLER, VIEW, TESTS, TESTS_OPTIONAL] {
            let text = fill(template, &values.pairs);
            assert_eq!(leftovers(&text), Vec::<String>::new(), "{text}");
        }
        let view = fill(VIEW, &values.pairs);
        assert!(view.contains("pub struct NewLineItem"), "{view}");
        assert!(view.contains("use crate::api::fields;"), "{view}");
        assert!(
            view.contains("schema_with = fields::optional_text::<NUMBER_MAX_CHARS>"),
            "{view}"
        );
        let migration = fill(MIGRATION, &values.pairs);
        assert!(
            migration.contains(".col(text_null(LineItems::Note))"),
            "{migration}"
        );
        assert!(
            migration.contains(".to(Persons::Table, Persons::Id)"),
            "{migration}"
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
