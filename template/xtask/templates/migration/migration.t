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
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Change the schema here, one change per statement so that SQLite can follow.
        // See migration/src/m20250101_000001_create_persons.rs for a table.
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        // Undo what `up` did, in reverse order.
        Ok(())
    }
}
