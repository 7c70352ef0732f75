//! Database connections and the migration commands behind `db ...`.
use std::path::{Path, PathBuf};
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

/// Why `db new` could not add a migration.
#[derive(Debug, thiserror::Error)]
pub enum NewMigrationError {
    #[error(
        "migration name {0:?} must be lower snake_case: letters, digits and _, starting with a letter"
    )]
    BadName(String),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0} has no `mod m...;` line and `Box::new(...)` entry to add the migration after")]
    NoAnchor(PathBuf),
}

/// Writes `migration/src/m{timestamp}_{name}.rs` and registers it in the Migrator.
///
/// Returns the path of the new file.
pub fn new_migration(
    dir: &Path,
    name: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PathBuf, NewMigrationError> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        return Err(NewMigrationError::BadName(name.to_owned()));
    }
    let module = format!("m{}_{name}", now.format("%Y%m%d_%H%M%S"));
    let lib_path = dir.join("lib.rs");
    let io = |path: &Path| {
        let path = path.to_owned();
        move |e| NewMigrationError::Io(path, e)
    };
    let lib = std::fs::read_to_string(&lib_path).map_err(io(&lib_path))?;
    let patched =
        register(&lib, &module).ok_or_else(|| NewMigrationError::NoAnchor(lib_path.clone()))?;

    let file = dir.join(format!("{module}.rs"));
    std::fs::write(&file, MIGRATION_TEMPLATE).map_err(io(&file))?;
    std::fs::write(&lib_path, patched).map_err(io(&lib_path))?;
    Ok(file)
}

/// Adds `mod {module};` after the last migration module and its entry at the end of the
/// `vec![...]` in `migrations()`.
fn register(lib: &str, module: &str) -> Option<String> {
    let body = lib.find("fn migrations()")?;
    let open = body + lib[body..].find("vec![")? + "vec![".len();
    let close = open + lib[open..].find(']')?;
    let mut entries: Vec<String> = lib[open..close]
        .split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(str::to_owned)
        .collect();
    entries.push(format!("Box::new({module}::Migration)"));
    let list: String = entries
        .iter()
        .map(|entry| format!("\n            {entry},"))
        .collect();
    let patched = format!("{}{list}\n        {}", &lib[..open], &lib[close..]);

    let mut lines: Vec<String> = patched.lines().map(str::to_owned).collect();
    let last_mod = lines
        .iter()
        .rposition(|line| line.trim_start().starts_with("mod m"))?;
    lines.insert(last_mod + 1, format!("mod {module};"));
    Some(lines.join("\n") + "\n")
}

const MIGRATION_TEMPLATE: &str = r#"use sea_orm_migration::prelude::*;

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
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_migration_is_written_and_registered() {
        let dir = tempfile::tempdir().expect("temp dir");
        let lib = include_str!("../migration/src/lib.rs");
        std::fs::write(dir.path().join("lib.rs"), lib).expect("write lib.rs");
        let now = chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("valid time");

        let file = new_migration(dir.path(), "add_email", now).expect("created");

        assert!(file.ends_with("m20260101_000000_add_email.rs"));
        let patched = std::fs::read_to_string(dir.path().join("lib.rs")).expect("read lib.rs");
        assert!(patched.contains("mod m20260101_000000_add_email;"));
        assert!(patched.contains("Box::new(m20260101_000000_add_email::Migration),"));
        let first = patched
            .find("create_persons::Migration")
            .expect("old entry kept");
        let second = patched.find("add_email::Migration").expect("new entry");
        assert!(first < second, "new migrations run last");
    }

    #[test]
    fn a_bad_migration_name_is_refused_and_writes_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let now = chrono::Utc::now();
        for name in ["", "AddEmail", "add-email", "1st"] {
            let error = new_migration(dir.path(), name, now).unwrap_err();
            assert!(matches!(error, NewMigrationError::BadName(_)), "{name}");
        }
        assert_eq!(std::fs::read_dir(dir.path()).expect("list").count(), 0);
    }
}
