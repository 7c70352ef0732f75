//! Redis for the task tests: a namespace per test on a shared server or on the shared
//! Redis Cluster ([`cluster`](crate::support::cluster)), or a server of the test's own that
//! it can stop and start.
use std::time::Duration;

use uuid::Uuid;

use crate::service::config::Settings;
use crate::service::queue::Keys;
use crate::support::cluster::Cluster;
use crate::support::provision::{Wanted, cleanup, start_container};

/// Makes `test`, an `async fn(TestRedis)` of the calling module, two tests: `test::on_redis`
/// on Redis, and `test::on_a_cluster` on the Redis Cluster. Either is skipped (loudly, or
/// fails under `CI`) without its server.
macro_rules! on_redis_and_cluster {
    ($test:ident) => {
        mod $test {
            #[tokio::test]
            async fn on_redis() {
                if let Some(redis) = $crate::support::redis::TestRedis::find().await {
                    super::$test(redis).await;
                }
            }

            #[tokio::test]
            async fn on_a_cluster() {
                if let Some(redis) = $crate::support::redis::TestRedis::cluster().await {
                    super::$test(redis).await;
                }
            }
        }
    };
}
pub(crate) use on_redis_and_cluster;

/// `TEST_REDIS_URL`, else a Redis container; without either the task tests are skipped.
static REDIS: Wanted = Wanted::new(
    "Redis",
    "TEST_REDIS_URL",
    "redis://127.0.0.1:6379",
    "The task queue tests are SKIPPED. Set TEST_REDIS_URL to run them.",
    || {
        Box::pin(async {
            let image = testcontainers_modules::redis::Redis::default();
            let port = start_container(image, "7-alpine", 6379).await;
            format!("redis://127.0.0.1:{port}")
        })
    },
);

/// A Redis server, and key names no other test uses.
pub struct TestRedis {
    pub url: String,
    pub namespace: String,
}

impl TestRedis {
    /// `TEST_REDIS_URL`, else a Redis container when Docker answers. Without either the
    /// test is skipped, loudly, except under `CI`, where it fails.
    pub async fn find() -> Option<Self> {
        Some(Self::at(REDIS.find().await?))
    }

    /// The binary's Redis Cluster, started on first use; without `redis-server` the test
    /// is skipped, loudly, except under `CI`, where it fails.
    pub async fn cluster() -> Option<Self> {
        let url = tokio::task::spawn_blocking(Cluster::shared_url)
            .await
            .expect("the cluster starts or is skipped")?;
        Some(Self::at(url))
    }

    /// A namespace of its own on the Redis at `url`.
    pub fn at(url: String) -> Self {
        Self {
            url,
            namespace: format!("test-{}", Uuid::new_v4().simple()),
        }
    }

    /// Points settings at this Redis, with short delays so that tests stay quick.
    pub fn configure(&self, settings: &mut Settings) {
        settings.redis.url = Some(self.url.parse().expect("a Redis URL"));
        settings.tasks.eager = false;
        settings.tasks.namespace = self.namespace.clone();
        settings.tasks.retry_base_ms = 100;
        settings.tasks.retry_max_ms = 400;
        settings.tasks.worker_lease_secs = 2;
        settings.tasks.poll_interval_ms = 50;
        settings.tasks.shutdown_timeout_secs = 10;
        settings.beat.lease_secs = 2;
    }

    /// The same, as environment variables for a service process.
    pub fn env(&self, database_url: &str) -> Vec<(String, String)> {
        [
            ("APP__DATABASE__URL", database_url),
            ("APP__REDIS__URL", self.url.as_str()),
            ("APP__TASKS__EAGER", "false"),
            ("APP__TASKS__NAMESPACE", self.namespace.as_str()),
            ("APP__TASKS__RETRY_BASE_MS", "100"),
            ("APP__TASKS__RETRY_MAX_MS", "400"),
            ("APP__TASKS__WORKER_LEASE_SECS", "2"),
            ("APP__TASKS__POLL_INTERVAL_MS", "50"),
            ("APP__TASKS__SHUTDOWN_TIMEOUT_SECS", "10"),
            ("APP__BEAT__LEASE_SECS", "2"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
    }

    /// A client on this Redis, for looking behind the queue.
    pub async fn client(&self) -> fred::prelude::Client {
        use fred::prelude::*;

        let client = Client::new(
            Config::from_url(&self.url).expect("Redis URL"),
            None,
            None,
            None,
        );
        client.init().await.expect("connect to Redis");
        client
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let keys = Keys::new(&self.namespace);
        let pattern = format!("{}*", keys.prefix());
        // Named, so that a cluster runs the script where the namespace's slot lives.
        let ready = keys.ready();
        let url = self.url.clone();
        cleanup(move || async move {
            use fred::prelude::*;

            let client = Client::new(Config::from_url(&url)?, None, None, None);
            client.init().await?;
            let script = "for _, key in ipairs(redis.call('KEYS', ARGV[1])) do \
                          redis.call('DEL', key) end return 0";
            let _: i64 = client.eval(script, ready, pattern).await?;
            client.quit().await?;
            Ok(())
        });
    }
}

/// A Redis server of the test's own, to stop and start at will.
pub struct OwnRedis {
    port: u16,
    server: Option<std::process::Child>,
}

impl OwnRedis {
    /// None (the test is skipped, loudly, or fails under CI) without `redis-server`.
    pub fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let mut redis = Self { port, server: None };
        if !redis.restart() {
            crate::support::skip("redis-server cannot be run: the reconnection test is SKIPPED");
            return None;
        }
        Some(redis)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn restart(&mut self) -> bool {
        let started = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn();
        let Ok(server) = started else { return false };
        self.server = Some(server);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn stop(&mut self) {
        if let Some(mut server) = self.server.take() {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
