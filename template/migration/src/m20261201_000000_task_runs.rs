//! What the task engine needs to guard a task's runs: the worker whose run holds a task,
//! and an index of the pending tasks, for the sweep that pushes again those whose message
//! never reached the queue.
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .add_column(text_null(Tasks::Worker))
                    .to_owned(),
            )
            .await?;
        // Partial: only pending tasks, a handful in a healthy queue, are in it.
        manager
            .create_index(
                Index::create()
                    .name("tasks_pending")
                    .table(Tasks::Table)
                    .col(Tasks::UpdatedAt)
                    .and_where(Expr::col(Tasks::State).eq("pending"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("tasks_pending")
                    .table(Tasks::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tasks::Table)
                    .drop_column(Tasks::Worker)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Tasks {
    Table,
    State,
    UpdatedAt,
    Worker,
}
