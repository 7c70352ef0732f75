---
to: migration/src/{{ migration }}.rs
injections:
  - into: migration/src/lib.rs
    among: "mod m"
    content: "mod {{ migration }};"
  - into: migration/src/lib.rs
    among: "Box::new(m"
    content: "Box::new({{ migration }}::Migration),"
---
{# The sea-orm-migration column function of each field type (`_null` when optional). #}
{% set column = {
    "string": "string_len", "text": "text", "bool": "boolean", "i32": "integer",
    "i64": "big_integer", "f64": "double", "date": "date",
    "datetime": "timestamp_with_time_zone", "uuid": "uuid", "json": "json_binary",
    "reference": "big_integer"} %}
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table({{ Many }}::Table)
                    .if_not_exists()
                    .col(big_pk_auto({{ Many }}::Id))
{% for field in fields %}
                    .col({{ column[field.kind] }}{% if field.optional %}_null{% endif %}({{ Many }}::{{ field.camel }}{% if field.length %}, {{ field.length }}{% endif %}))
{% endfor %}
                    .col(timestamp_with_time_zone({{ Many }}::CreatedAt))
                    .col(timestamp_with_time_zone({{ Many }}::UpdatedAt))
{% for field in references %}
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_{{ many }}_{{ field.name }}")
                            .from({{ Many }}::Table, {{ Many }}::{{ field.camel }})
                            .to({{ field.target.Many }}::Table, {{ field.target.Many }}::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
{% endfor %}
                    .to_owned(),
            )
{% if references %}
            .await?;
{% for field in references %}
        // PostgreSQL does not index a foreign key by itself; deletes of the rows it
        // refers to, and lookups by it, need one.
        manager
            .create_index(
                Index::create()
                    .name("{{ many }}_{{ field.name }}")
                    .table({{ Many }}::Table)
                    .col({{ Many }}::{{ field.camel }})
                    .to_owned(),
            )
            .await?;
{% endfor %}
        Ok(())
{% else %}
            .await
{% endif %}
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table({{ Many }}::Table).to_owned())
            .await
    }
}

{# DeriveIden takes names from the variants (`DueOn` is `due_on`); digits make that guess
   unsure, so the names of those are given. #}
#[derive(DeriveIden)]
enum {{ Many }} {
{% if many_has_digits %}
    #[sea_orm(iden = "{{ many }}")]
{% endif %}
    Table,
    Id,
{% for field in fields %}
{% if field.has_digits %}
    #[sea_orm(iden = "{{ field.name }}")]
{% endif %}
    {{ field.camel }},
{% endfor %}
    CreatedAt,
    UpdatedAt,
}
{% for target in referenced_tables %}

#[derive(DeriveIden)]
enum {{ target.Many }} {
{% if target.many_has_digits %}
    #[sea_orm(iden = "{{ target.many }}")]
{% endif %}
    Table,
    Id,
}
{% endfor %}
