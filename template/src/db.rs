//! Database connections, whether the database answers, and the migration commands
//! behind `db ...`.
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::DatabaseSettings;

/// Opens the connection pool described by the settings.
pub async fn connect(settings: &DatabaseSettings) -> Result<DatabaseConnection, DbErr> {
    let url = settings.url.as_ref().map_or("", |url| url.expose());
    let mut options = ConnectOptions::new(plain_on_loopback(url));
    options
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.connect_timeout_secs))
        // sqlx logs every statement at INFO otherwise.
        .sqlx_logging_level(tracing::log::LevelFilter::Debug);
    Database::connect(options).await
}

/// How often, while the database is known to be away, a ping checks whether it is back.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// Whether the database is known to be away, shared by every request of one service.
///
/// While it is, requests are answered at once instead of each waiting the pool's connect
/// timeout; one background ping checks every [`PROBE_EVERY`] whether it is back. The
/// outage is logged once when it starts (a warning, not an error: not a bug, and no Sentry
/// event) and once when it ends.
#[derive(Clone, Debug, Default)]
pub struct Availability {
    down: Arc<AtomicBool>,
}

impl Availability {
    /// Whether the database is known to be away right now.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    /// Notes that a request found the database away (for `cause`): the first such
    /// report logs the outage and starts pinging `db` until it answers again.
    pub fn report_down(&self, db: &DatabaseConnection, cause: &str) {
        if self.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            error = cause,
            "the database is unreachable; requests get 503 until it answers again"
        );
        let (down, db) = (self.down.clone(), db.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if Arc::strong_count(&down) == 1 {
                    // The service that shared it is gone.
                    return;
                }
                // A refused connection is retried by the pool until its timeout: cut it
                // short, the next ping comes soon.
                if let Ok(Ok(())) = tokio::time::timeout(PROBE_EVERY, db.ping()).await {
                    break;
                }
            }
            down.store(false, Ordering::Release);
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(seconds, "the database answers again");
        });
    }
}

/// `url`, asking for no TLS when it names PostgreSQL on this machine's loopback and says
/// nothing of TLS (no `sslmode`, no `PGSSLMODE`). Traffic on loopback never leaves the
/// machine, so TLS protects nothing there, and it costs both sides CPU on every query
/// (measured: README, "Benchmarks"). Any other URL is used as written.
fn plain_on_loopback(url: &str) -> Cow<'_, str> {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.into();
    };
    let postgres = matches!(parsed.scheme(), "postgres" | "postgresql");
    // `postgres:` is not a special scheme to `url`: an IPv4 address stays a name.
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => {
            name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    let chosen = parsed
        .query_pairs()
        .any(|(key, _)| key == "sslmode" || key == "ssl-mode")
        || std::env::var_os("PGSSLMODE").is_some();
    if !postgres || !loopback || chosen {
        return url.into();
    }
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    String::from(parsed).into()
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

#[cfg(test)]
mod tests {
    use super::plain_on_loopback;

    #[test]
    fn tls_is_left_out_on_loopback_only_when_nothing_asks_for_it() {
        // (Run without PGSSLMODE, as the tests are.)
        if std::env::var_os("PGSSLMODE").is_some() {
            return;
        }
        for url in [
            "postgres://u:p@127.0.0.1:5432/app",
            "postgres://u:p@localhost/app",
            "postgresql://u:p@[::1]:5432/app?application_name=x",
        ] {
            let plain = plain_on_loopback(url);
            assert!(plain.starts_with(url), "{plain}");
            assert!(plain.ends_with("sslmode=disable"), "{plain}");
        }
        for url in [
            "postgres://u:p@db.internal:5432/app",
            "postgres://u:p@10.0.0.7/app",
            "postgres://u:p@127.0.0.1/app?sslmode=require",
            "postgres://u:p@127.0.0.1/app?ssl-mode=verify-full",
            "sqlite://dev.db?mode=rwc",
            "",
        ] {
            assert_eq!(plain_on_loopback(url), url);
        }
    }
}
