//! A database per test, dropped after it: on PostgreSQL when one is found, else on SQLite.
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};

use crate::support::provision::{Wanted, cleanup, start_container};

/// Where the test databases live: `TEST_DATABASE_URL`, else a PostgreSQL container, else
/// SQLite files (refused under `CI`).
static POSTGRES: Wanted = Wanted::new(
    "PostgreSQL",
    "TEST_DATABASE_URL",
    "postgres://postgres:postgres@127.0.0.1:5432/postgres",
    "These tests run on SQLite only. Set TEST_DATABASE_URL to test on PostgreSQL.",
    || {
        Box::pin(async {
            let image = testcontainers_modules::postgres::Postgres::default();
            let port = start_container(image, "16-alpine", 5432).await;
            format!("postgres://postgres:postgres@127.0.0.1:{port}/postgres")
        })
    },
);

/// A database that exists for one test and is dropped after it.
pub struct TestDatabase {
    pub url: String,
    admin_url: Option<String>,
    name: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// Creates an empty database (no tables) on the test server.
    pub async fn create() -> Self {
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        match POSTGRES.find().await {
            Some(admin_url) if !admin_url.starts_with("sqlite:") => {
                let admin = Database::connect(admin_url.as_str())
                    .await
                    .expect("connect to the PostgreSQL test server");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create the test database");
                let _ = admin.close().await;
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&name);
                Self {
                    url: url.to_string(),
                    admin_url: Some(admin_url),
                    name,
                    _dir: None,
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("test.db");
                Self {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    admin_url: None,
                    name,
                    _dir: Some(dir),
                }
            }
        }
    }

    /// A connection to this database, for fixtures and for looking behind the service.
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.url.as_str())
            .await
            .expect("connect to the test database")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(admin_url) = self.admin_url.clone() else {
            return;
        };
        let statement = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = cleanup(move || async move {
            let admin = Database::connect(admin_url.as_str()).await?;
            admin.execute_unprepared(&statement).await?;
            admin.close().await?;
            Ok(())
        });
        if !dropped {
            eprintln!("warning: could not drop test database {}", self.name);
        }
    }
}
