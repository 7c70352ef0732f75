use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tasks::Table)
                    .if_not_exists()
                    .col(uuid(Tasks::Id).primary_key())
                    .col(string_len(Tasks::Name, 100))
                    .col(json(Tasks::Arguments))
                    .col(string_len(Tasks::State, 20))
                    .col(integer(Tasks::Attempts))
                    .col(integer(Tasks::MaxRetries))
                    .col(text_null(Tasks::LastError))
                    .col(json_null(Tasks::Result))
                    .col(uuid_null(Tasks::ChainId))
                    .col(integer_null(Tasks::ChainPosition))
                    .col(string_len_null(Tasks::RequestId, 200))
                    .col(timestamp_with_time_zone(Tasks::CreatedAt))
                    .col(timestamp_with_time_zone(Tasks::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Tasks::StartedAt))
                    .col(timestamp_with_time_zone_null(Tasks::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("tasks_chain_id")
                    .table(Tasks::Table)
                    .col(Tasks::ChainId)
                    .to_owned(),
            )
            .await?;
        // The nightly purge looks finished tasks up by age.
        manager
            .create_index(
                Index::create()
                    .name("tasks_finished_at")
                    .table(Tasks::Table)
                    .col(Tasks::FinishedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tasks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    Id,
    Name,
    Arguments,
    State,
    Attempts,
    MaxRetries,
    LastError,
    Result,
    ChainId,
    ChainPosition,
    RequestId,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    FinishedAt,
}
