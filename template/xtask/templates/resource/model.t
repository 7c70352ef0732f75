---
to: src/models/{{ one }}.rs
injections:
  - into: src/models/mod.rs
    among: "pub mod "
    content: "pub mod {{ one }};"
---
{# The entity's type of each field type (`Option<...>` when optional). #}
{% set model_type = {
    "string": "String", "text": "String", "bool": "bool", "i32": "i32", "i64": "i64",
    "f64": "f64", "date": "Date", "datetime": "DateTimeUtc", "uuid": "Uuid",
    "json": "Json", "reference": "i64"} %}
//! {{ A_one }} (`cargo xtask new resource` wrote this file).
use sea_orm::entity::prelude::*;

/// A row of the `{{ many }}` table.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "{{ many }}")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
{% for field in fields %}
{% if field.kind == "string" %}
    #[sea_orm(column_type = "String(StringLen::N({{ field.length }}))")]
{% elif field.kind == "text" %}
    #[sea_orm(column_type = "Text")]
{% elif field.kind == "json" %}
    #[sea_orm(column_type = "JsonBinary")]
{% endif %}
{% if field.optional %}
    pub {{ field.name }}: Option<{{ model_type[field.kind] }}>,
{% else %}
    pub {{ field.name }}: {{ model_type[field.kind] }},
{% endif %}
{% endfor %}
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
{% for field in references %}
    #[sea_orm(
        belongs_to = "super::{{ field.target.one }}::Entity",
        from = "Column::{{ field.camel }}",
        to = "super::{{ field.target.one }}::Column::Id"
    )]
    {{ field.target.variant }},
{% endfor %}
}
{% for field in references %}

impl Related<super::{{ field.target.one }}::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::{{ field.target.variant }}.def()
    }
}
{% endfor %}

impl ActiveModelBehavior for ActiveModel {}
