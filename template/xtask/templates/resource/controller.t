---
to: src/controllers/{{ many }}.rs
injections:
  - into: src/controllers/mod.rs
    among: "pub mod "
    content: "pub mod {{ many }};"
---
{# The type a request gives for each field type, before the checks. #}
{% set input_type = {
    "string": "String", "text": "String", "bool": "bool", "i32": "i32", "i64": "i64",
    "f64": "f64", "date": "String", "datetime": "String", "uuid": "String",
    "json": "serde_json::Value", "reference": "i64"} %}
{# The `Checks` call that gives the value of a text or JSON field, as kept. #}
{% macro cleaned(field) %}
{% if field.kind == "string" %}
checks.text("{{ field.name }}", &{{ field.name }}, {{ field.upper }}_MAX_CHARS)
{%- elif field.kind == "text" %}
checks.long_text("{{ field.name }}", &{{ field.name }})
{%- else %}
checks.json("{{ field.name }}", {{ field.name }})
{%- endif %}
{% endmacro %}
{# What `check` calls: with references, it looks them up in the database. #}
{% set check = "check(db).await" if references else "check()" %}
//! Creating, reading, changing and deleting {{ many_words }} (`cargo xtask new resource`
//! wrote this file; it is yours to change).
use chrono::Utc;
use sea_orm::ActiveValue::{Set, Unchanged};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait};

use super::{ {%- if checked %}Checks, {% endif %}Error, {% if references %}FieldError, {% endif %}Page, Paged, is_foreign_key_violation};
use crate::models::{{ one }}::{self, Entity as {{ One }}};
use crate::platform::sql::Reads;

/// The SQL of `get` and `list`, built once rather than on every request.
static READS: Reads<{{ One }}> = Reads::new();
{% for field in fields if field.length %}

/// Longest accepted `{{ field.name }}`, in characters (the column holds {{ field.length }}).
pub const {{ field.upper }}_MAX_CHARS: usize = {{ field.length }};
{% endfor %}
{% for field in fields if field.range %}

/// Smallest accepted `{{ field.name }}`.
pub const {{ field.upper }}_MIN: {{ field.kind }} = {{ field.range.min }};
/// Largest accepted `{{ field.name }}`.
pub const {{ field.upper }}_MAX: {{ field.kind }} = {{ field.range.max }};
{% endfor %}

/// Every field of {{ a_one }}, as given to create or replace one.
#[derive(Debug, Clone, PartialEq)]
pub struct {{ One }}Input {
{% for field in fields %}
{% if field.optional %}
    pub {{ field.name }}: Option<{{ input_type[field.kind] }}>,
{% else %}
    pub {{ field.name }}: {{ input_type[field.kind] }},
{% endif %}
{% endfor %}
}

/// Some fields of {{ a_one }}, as given to change one: `None` leaves a field as it is.
{% if optional %}
/// `Some(None)` clears an optional one.
{% endif %}
#[derive(Debug, Clone, Default, PartialEq)]
pub struct {{ One }}Changes {
{% for field in fields %}
{% if field.optional %}
    pub {{ field.name }}: Option<Option<{{ input_type[field.kind] }}>>,
{% else %}
    pub {{ field.name }}: Option<{{ input_type[field.kind] }}>,
{% endif %}
{% endfor %}
}

impl From<{{ One }}Input> for {{ One }}Changes {
    fn from(input: {{ One }}Input) -> Self {
        Self {
{% for field in fields %}
            {{ field.name }}: Some(input.{{ field.name }}),
{% endfor %}
        }
    }
}

impl {{ One }}Changes {
    /// Checks the fields given, all of them (every bad field is reported at once), and
    /// returns them as the changes of a row: the fields not given stay unset.
{% if references %}
    async fn check(self, db: &impl ConnectionTrait) -> Result<{{ one }}::ActiveModel, Error> {
{% else %}
    fn check(self) -> Result<{{ one }}::ActiveModel, Error> {
{% endif %}
{% if checked %}
        let mut checks = Checks::default();
{% endif %}
        let mut row: {{ one }}::ActiveModel = Default::default();
{% for field in fields %}
{% set name = field.name %}
{% if field.kind in ["date", "datetime", "uuid"] and not field.optional %}
        // A value that does not parse is reported by `checks`, and set nowhere.
        if let Some({{ name }}) = self.{{ name }}
            && let Some({{ name }}) = checks.{{ field.kind }}("{{ name }}", &{{ name }})
        {
            row.{{ name }} = Set({{ name }});
        }
{% else %}
        if let Some({{ name }}) = self.{{ name }} {
{% if field.kind in ["string", "text", "json"] %}
{% if field.optional %}
            row.{{ name }} = Set({{ name }}.map(|{{ name }}| {{ cleaned(field) }}));
{% else %}
            row.{{ name }} = Set({{ cleaned(field) }});
{% endif %}
{% elif field.kind in ["date", "datetime", "uuid"] %}
            row.{{ name }} = Set({{ name }}.and_then(|{{ name }}| checks.{{ field.kind }}("{{ name }}", &{{ name }})));
{% elif field.range %}
{% if field.optional %}
            if let Some(value) = {{ name }} {
                checks.range("{{ name }}", value, {{ field.upper }}_MIN, {{ field.upper }}_MAX);
            }
{% else %}
            checks.range("{{ name }}", {{ name }}, {{ field.upper }}_MIN, {{ field.upper }}_MAX);
{% endif %}
            row.{{ name }} = Set({{ name }});
{% elif field.kind == "reference" %}
{% if field.optional %}
            if let Some(id) = {{ name }}
                && crate::models::{{ field.target.one }}::Entity::find_by_id(id)
                    .one(db)
                    .await?
                    .is_none()
            {
{% else %}
            if crate::models::{{ field.target.one }}::Entity::find_by_id({{ name }})
                .one(db)
                .await?
                .is_none()
            {
{% endif %}
                checks.fail("{{ name }}", "no {{ field.target.words }} has this id");
            }
            row.{{ name }} = Set({{ name }});
{% else %}
            row.{{ name }} = Set({{ name }});
{% endif %}
        }
{% endif %}
{% endfor %}
{% if checked %}
        checks.finish()?;
{% endif %}
        Ok(row)
    }
}

fn not_found(id: i64) -> Error {
    Error::NotFound {
        resource: "{{ one_words }}",
        id: id.to_string(),
    }
}
{% if references %}

/// A write refused by a foreign key: a row it refers to went away meanwhile.
fn stored(result: Result<{{ one }}::Model, DbErr>) -> Result<{{ one }}::Model, Error> {
    match result {
        Err(error) if is_foreign_key_violation(&error) => {
            Err(Error::Invalid(vec![
{% for field in references %}
                FieldError::new("{{ field.name }}", "must be the id of an existing {{ field.target.words }}"),
{% endfor %}
            ]))
        }
        result => Ok(result?),
    }
}
{% endif %}

/// Creates {{ a_one }}.
pub async fn create(
    db: &DatabaseConnection,
    input: {{ One }}Input,
) -> Result<{{ one }}::Model, Error> {
    let mut row = {{ One }}Changes::from(input).{{ check }}?;
    let now = Utc::now();
    row.created_at = Set(now);
    row.updated_at = Set(now);
{% if references %}
    stored(row.insert(db).await)
{% else %}
    Ok(row.insert(db).await?)
{% endif %}
}

/// Finds {{ a_one }} by id.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<{{ one }}::Model, Error> {
    READS.by_id(db, id).await?.ok_or_else(|| not_found(id))
}

/// Lists {{ many_words }} by id, one page at a time.
pub async fn list(
    db: &DatabaseConnection,
    page: Page,
) -> Result<Paged<{{ one }}::Model>, Error> {
    let rows = READS.page(db, page.offset(), page.rows_to_fetch()).await?;
    Ok(Paged::from_rows(rows, page))
}

/// Replaces every field of {{ a_one }}{% if optional %} (optional fields left out are cleared){% endif %}.
pub async fn replace(
    db: &DatabaseConnection,
    id: i64,
    input: {{ One }}Input,
) -> Result<{{ one }}::Model, Error> {
    update(db, id, input.into()).await
}

/// Changes the given fields of {{ a_one }}, in one statement.
pub async fn update(
    db: &DatabaseConnection,
    id: i64,
    changes: {{ One }}Changes,
) -> Result<{{ one }}::Model, Error> {
    let mut row = changes.{{ check }}?;
    row.id = Unchanged(id);
    row.updated_at = Set(Utc::now());
    match row.update(db).await {
        // No such row (or deleted meanwhile).
        Err(DbErr::RecordNotUpdated) => Err(not_found(id)),
{% if references %}
        result => stored(result),
{% else %}
        result => Ok(result?),
{% endif %}
    }
}

/// Deletes {{ a_one }}; one that other rows still refer to stays (a conflict).
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<(), Error> {
    let result = match {{ One }}::delete_by_id(id).exec(db).await {
        Err(error) if is_foreign_key_violation(&error) => {
            return Err(Error::Conflict {
                code: "still_referenced",
                message: format!("{{ one_words }} {id} is still referred to by other rows"),
            });
        }
        result => result?,
    };
    if result.rows_affected == 0 {
        return Err(not_found(id));
    }
    Ok(())
}
