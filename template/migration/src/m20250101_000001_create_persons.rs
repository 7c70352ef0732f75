use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Persons::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Persons::Id))
                    .col(string_len(Persons::Name, 200))
                    .col(integer(Persons::Age))
                    .col(timestamp_with_time_zone(Persons::CreatedAt))
                    .col(timestamp_with_time_zone(Persons::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Persons::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Persons {
    Table,
    Id,
    Name,
    Age,
    CreatedAt,
    UpdatedAt,
}
