//! Database migrations, applied in order by `db upgrade` and reverted by `db downgrade`.
//!
//! `cargo xtask new migration NAME` adds a file here and registers it below.
pub use sea_orm_migration::prelude::*;

mod m20250101_000001_create_persons;
mod m20250101_000002_create_tasks;

/// Every migration of the service, oldest first.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_create_persons::Migration),
            Box::new(m20250101_000002_create_tasks::Migration),
        ]
    }
}
