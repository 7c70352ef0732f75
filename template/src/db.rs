//! Database connections and the migration commands behind `db ...`.
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::DatabaseSettings;

/// Opens the connection pool described by the settings.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.url.as_ref().map_or("", |url| url.expose());
    let mut options = ConnectOptions::new(url);
    options
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.connect_timeout_secs))
        // sqlx logs every statement at INFO otherwise.
        .sqlx_logging_level(tracing::log::LevelFilter::Debug);
    Database::connect(options).await
}

/// Applies `steps` pending migrations, or all of them.
pub async fn upgrade(db: &DatabaseConnection, steps: Option<u32>) -> Result<(), DbErr> {
    Migrator::up(db, steps).await
}

/// Reverts the last `steps` applied migrations.
pub async fn downgrade(db: &DatabaseConnection, steps: u32) -> Result<(), DbErr> {
    Migrator::down(db, Some(steps)).await
}

/// Every known migration with whether it is applied, oldest first.
pub async fn status(db: &DatabaseConnection) -> Result<Vec<(String, bool)>, DbErr> {
    let migrations = Migrator::get_migration_with_status(db).await?;
    Ok(migrations
        .iter()
        .map(|m| {
            let applied = m.status() == sea_orm_migration::MigrationStatus::Applied;
            (m.name().to_owned(), applied)
        })
        .collect())
}
