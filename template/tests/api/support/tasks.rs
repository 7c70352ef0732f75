//! A database and a task handle without HTTP, for the queue's own tests.
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use uuid::Uuid;

use crate::service::config::Settings;
use crate::service::models::task::State;
use crate::service::queue::Queue;
use crate::support::app::test_settings;
use crate::support::database::TestDatabase;
use crate::support::redis::TestRedis;
use crate::support::{eventually, fixtures};

/// A migrated database, its connection, and a task handle on the given Redis.
pub struct TaskWorld {
    pub database: TestDatabase,
    pub db: DatabaseConnection,
    pub tasks: Queue,
}

impl TaskWorld {
    pub async fn new(redis: &TestRedis) -> Self {
        Self::with(|settings| redis.configure(settings)).await
    }

    /// The same, with the test settings changed by `configure` (no Redis: eager mode).
    pub async fn with(configure: impl FnOnce(&mut Settings)) -> Self {
        let database = TestDatabase::create().await;
        let mut settings = test_settings();
        settings.database.url = Some(database.url.parse().expect("a database URL"));
        configure(&mut settings);
        let health = crate::service::db::Health::default();
        let db = crate::service::db::connect(&settings.database, &health)
            .await
            .expect("connect");
        crate::service::db::upgrade(&db, None)
            .await
            .expect("migrate");
        let tasks =
            crate::service::tasks::queue(db.clone(), &health, &settings).expect("task queue");
        Self {
            database,
            db,
            tasks,
        }
    }

    /// Runs `worker` in this process until the returned sender is dropped or used.
    pub fn spawn_worker(
        &self,
        tasks: Queue,
    ) -> (
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    ) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            let tasks = tasks.on_redis("the test's worker").expect("a Redis queue");
            crate::service::queue::worker::run(tasks, async {
                let _ = stopped.await;
            })
            .await
            .expect("worker runs");
        });
        (stop, handle)
    }

    /// Waits until the task reaches a finished state (or `patience` runs out).
    pub async fn finished(
        &self,
        id: Uuid,
        patience: Duration,
    ) -> crate::service::models::task::Model {
        self.wait_for(id, patience, "a finished state", |state| {
            state.is_finished()
        })
        .await
    }

    /// Waits until the task is in `state`.
    pub async fn reaches(&self, id: Uuid, state: State, patience: Duration) {
        self.wait_for(id, patience, &format!("{state:?}"), |now| now == state)
            .await;
    }

    async fn wait_for(
        &self,
        id: Uuid,
        patience: Duration,
        wanted: &str,
        reached: impl Fn(State) -> bool,
    ) -> crate::service::models::task::Model {
        let task = eventually(
            patience,
            async || {
                crate::service::controllers::tasks::get(&self.db, id)
                    .await
                    .expect("task row")
            },
            |task| reached(task.state),
        )
        .await;
        assert!(
            reached(task.state),
            "task {id} is {:?}, not {wanted}, after {patience:?}",
            task.state
        );
        task
    }

    /// Runs one SQL query returning a single integer.
    pub async fn count(&self, sql: &str) -> i64 {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect("query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// Creates a person ([`fixtures::person`]) and returns its id.
    pub async fn person(&self, age: i32) -> i64 {
        fixtures::person(&self.db, "Ada", age).await.id
    }

    pub async fn age(&self, person: i64) -> i32 {
        crate::service::controllers::persons::get(&self.db, person)
            .await
            .expect("person")
            .age
    }
}
