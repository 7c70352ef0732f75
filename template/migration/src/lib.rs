//! Database migrations, applied in order by `db upgrade` and reverted by `db downgrade`.
//!
//! `cargo xtask new migration NAME` adds a file here and registers it below.
pub use sea_orm_migration::prelude::*;

mod m20250101_000001_create_persons;
mod m20250101_000002_create_tasks;
mod m20261201_000000_task_runs;
mod m20261203_000001_create_api_keys;
mod m20261203_000002_add_caller_to_tasks;

/// Every migration of the service, oldest first.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20250101_000001_create_persons::Migration),
            Box::new(m20250101_000002_create_tasks::Migration),
            Box::new(m20261201_000000_task_runs::Migration),
            Box::new(m20261203_000001_create_api_keys::Migration),
            Box::new(m20261203_000002_add_caller_to_tasks::Migration),
        ]
    }
}
