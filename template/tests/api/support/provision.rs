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

/// Starts `image` in a container and gives the host port its server listens on. The
/// image is `name:tag`, or what `TEST_{NAME}_IMAGE` says (`TEST_POSTGRES_IMAGE=postgres:15`:
/// a mirror, a pinned version). With `TEST_CONTAINER_NETWORK=host` the container shares
/// the host's network (for engines without a bridge network) and its server listens on a
/// free port of 127.0.0.1; otherwise `port` is published on a free host port. The
/// container is shared by every test of the binary, so never dropped: it outlives the run
/// (testcontainers removes containers only on drop). Remove it with `docker rm -f`.
pub async fn start_container<I: Image>(image: I, tag: &str, port: u16) -> u16 {
    use testcontainers_modules::testcontainers::ImageExt;
    use testcontainers_modules::testcontainers::runners::AsyncRunner;

    let name = image.name().to_owned();
    let (repository, tag) = chosen_image(&name, tag);
    let request = image.with_name(repository.as_str()).with_tag(tag.as_str());
    let shown = format!("{repository}:{tag}");
    if std::env::var("TEST_CONTAINER_NETWORK").is_ok_and(|network| network == "host") {
        let port = free_port();
        let listen = port.to_string();
        let request = request.with_network("host");
        // The official images' ways of choosing the port and the address.
        let request = match name.as_str() {
            "postgres" => request.with_env_var("PGPORT", listen).with_cmd([
                "-c",
                "fsync=off",
                "-c",
                "listen_addresses=127.0.0.1",
            ]),
            "redis" => request.with_cmd(["redis-server", "--port", &listen, "--bind", "127.0.0.1"]),
            other => panic!("no way to run {other} on the host network"),
        };
        let container = request
            .start()
            .await
            .unwrap_or_else(|e| panic!("start a {shown} container: {e:?}"));
        std::mem::forget(container);
        return port;
    }
    let container = request
        .start()
        .await
        .unwrap_or_else(|e| panic!("start a {shown} container: {e:?}"));
    let port = container
        .get_host_port_ipv4(port)
        .await
        .expect("container port");
    std::mem::forget(container);
    port
}

/// The repository and tag to run for the image `name`: `TEST_{NAME}_IMAGE` when set
/// (`repository[:tag]`, `latest` without a tag), else `name` at `tag`.
fn chosen_image(name: &str, tag: &str) -> (String, String) {
    let variable = format!("TEST_{}_IMAGE", name.to_ascii_uppercase());
    match std::env::var(&variable) {
        Ok(image) if !image.is_empty() => {
            // A registry's port (`host:5000/postgres`) is not a tag.
            let path = image.rfind('/').map_or(0, |at| at + 1);
            match image[path..].rfind(':') {
                Some(at) => (
                    image[..path + at].to_owned(),
                    image[path + at + 1..].to_owned(),
                ),
                None => (image, "latest".to_owned()),
            }
        }
        _ => (name.to_owned(), tag.to_owned()),
    }
}

/// A port of 127.0.0.1 that nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port on 127.0.0.1")
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
