//! The servers the tests need, and cleanup after them. A server comes from its variable
//! (`TEST_DATABASE_URL`), else from a container started once per test binary when Docker
//! answers, else not at all: the caller then falls back or skips, loudly, except under
//! `CI`, where the run fails instead.
use std::error::Error;
use std::pin::Pin;
use std::sync::OnceLock;

use testcontainers_modules::testcontainers::Image;

/// A server the tests need, and where it may come from.
pub struct Wanted {
    /// Its name in messages: `PostgreSQL`.
    name: &'static str,
    /// The variable that gives its URL.
    variable: &'static str,
    /// A URL to show as an example when `CI` finds none.
    example: &'static str,
    /// What the tests do without it, and how to change that: printed once.
    without: &'static str,
    /// Starts a container and gives its URL.
    start: fn() -> Pin<Box<dyn Future<Output = String> + Send>>,
    container: tokio::sync::OnceCell<String>,
    warned: OnceLock<()>,
}

impl Wanted {
    pub const fn new(
        name: &'static str,
        variable: &'static str,
        example: &'static str,
        without: &'static str,
        start: fn() -> Pin<Box<dyn Future<Output = String> + Send>>,
    ) -> Self {
        Self {
            name,
            variable,
            example,
            without,
            start,
            container: tokio::sync::OnceCell::const_new(),
            warned: OnceLock::new(),
        }
    }

    /// The server's URL: the variable, else a container. `None` (said once) without
    /// either; under `CI` that fails the test.
    pub async fn find(&self) -> Option<String> {
        if let Ok(url) = std::env::var(self.variable) {
            return Some(url);
        }
        if docker_answers() {
            return Some(self.container.get_or_init(self.start).await.clone());
        }
        if std::env::var_os("CI").is_some() {
            panic!(
                "CI is set but no {} was found: set {} (e.g. {}) or make Docker reachable",
                self.name, self.variable, self.example
            );
        }
        self.warned.get_or_init(|| {
            crate::support::notice(&format!(
                "\n*** No {}: {} is unset and Docker does not answer.\n*** {}\n",
                self.name, self.variable, self.without
            ));
        });
        None
    }
}

fn docker_answers() -> bool {
    if std::env::var_os("DOCKER_HOST").is_some() {
        return true;
    }
    #[cfg(unix)]
    {
        std::os::unix::net::UnixStream::connect("/var/run/docker.sock").is_ok()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// Starts `image` at `tag` in a container and gives the host port that `port` is
/// published on. The container is shared by every test of the binary, so never dropped:
/// it outlives the run (testcontainers removes containers only on drop). Remove it with
/// `docker rm -f`.
pub async fn start_container<I: Image>(image: I, tag: &str, port: u16) -> u16 {
    use testcontainers_modules::testcontainers::ImageExt;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;

    let name = image.name().to_owned();
    let container = image
        .with_tag(tag)
        .start()
        .await
        .unwrap_or_else(|e| panic!("start a {name} container: {e:?}"));
    let port = container
        .get_host_port_ipv4(port)
        .await
        .expect("container port");
    std::mem::forget(container);
    port
}

/// Runs `work` to its end on a thread of its own, and says whether it succeeded: `Drop`
/// runs inside the test's runtime, which cannot block on it.
pub fn cleanup<F>(work: impl FnOnce() -> F + Send + 'static) -> bool
where
    F: Future<Output = Result<(), Box<dyn Error + Send + Sync>>>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(work())
    })
    .join()
    .is_ok_and(|done| done.is_ok())
}
