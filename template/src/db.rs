//! Database connections, whether the database answers, and the migration commands
//! behind `db ...`.
use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::DatabaseSettings;
use crate::telemetry;

/// Opens the connection pool described by the settings. `health` tells the pool which of
/// its connections to ping before use: those idle since one was last found broken.
pub async fn connect(
    settings: &DatabaseSettings,
    health: &Health,
) -> Result<DatabaseConnection, DbErr> {
    // The break times only: the pool does not keep the rest alive (the outage probe ends
    // with the service, see `Health::report_down`).
    let breaks = health.0.breaks.clone();
    let mut options = ConnectOptions::new(plain_on_loopback(settings.exposed_url()));
    options
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .connect_timeout(Duration::from_secs(settings.connect_timeout_secs))
        .acquire_timeout(Duration::from_secs(settings.connect_timeout_secs))
        // sqlx pings a pooled connection before each use by default: a round trip to the
        // server for every query. Only the connections that may be broken are pinged.
        .test_before_acquire(false)
        .map_sqlx_postgres_before_acquire(move |connection, meta| {
            let test = breaks.worth_testing(meta.idle_for);
            Box::pin(async move {
                if test {
                    sea_orm::sqlx::Connection::ping(connection).await?;
                }
                Ok(true)
            })
        })
        // sqlx logs every statement at INFO otherwise.
        .sqlx_logging_level(tracing::log::LevelFilter::Debug);
    if settings.statement_timeout_ms > 0 {
        // Sent with the connection's start-up message (PostgreSQL only): no extra round trip.
        options.statement_timeout(Duration::from_millis(settings.statement_timeout_ms));
    }
    let mut connection = Database::connect(options).await?;
    if telemetry::trace::is_on() {
        // A span per statement run in a traced request or task.
        connection.set_metric_callback(telemetry::trace::query::record);
    }
    Ok(connection)
}

/// Whether `error` says the database is away (not that the query is wrong, nor that the
/// database is [`busy`]): a connection that broke, could not be opened, or that the
/// server is shutting down.
pub fn unreachable(error: &DbErr) -> bool {
    use sea_orm::{ConnAcquireErr, RuntimeErr};

    match error {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => false,
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            sqlx_unreachable(error)
        }
        _ => false,
    }
}

/// [`unreachable`] for sqlx's own errors.
fn sqlx_unreachable(error: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as Sqlx;

    match error {
        Sqlx::Io(_) | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception), 57P01-57P03 (the server is shutting
        // down, or starting: `admin_shutdown`, `crash_shutdown`, `cannot_connect_now`).
        Sqlx::Database(error) => error.code().is_some_and(|code| {
            code.starts_with("08") || ["57P01", "57P02", "57P03"].contains(&&*code)
        }),
        _ => false,
    }
}

/// Why the database had no time for a statement, when that is the reason it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    /// No pooled connection came free within `database.connect_timeout_secs`: every one
    /// is in use (or, if the server is away, none could be opened: [`Health::check`] tells
    /// which).
    Pool,
    /// The statement ran past `database.statement_timeout_ms` (SQLSTATE 57014).
    Statement,
}

/// Whether `error` says the database is busy rather than away or the query wrong.
pub fn busy(error: &DbErr) -> Option<Busy> {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::{ConnAcquireErr, RuntimeErr};

    match error {
        DbErr::ConnectionAcquire(ConnAcquireErr::Timeout) => Some(Busy::Pool),
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            match error.as_ref() {
                Sqlx::PoolTimedOut => Some(Busy::Pool),
                Sqlx::Database(error) if error.code().is_some_and(|code| code == "57014") => {
                    Some(Busy::Statement)
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A pooled connection unused for this long is pinged before its next query.
const TEST_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// [`Breaks::worth_testing`] at `now_ms`, with the last break at `broke_ms` (0: never).
fn idle_since_break(idle_for: Duration, now_ms: u64, broke_ms: u64) -> bool {
    // (Rounded towards pinging: a millisecond either way costs one ping at most.)
    idle_for >= TEST_IF_IDLE_FOR
        || (broke_ms != 0 && idle_for.as_millis() as u64 + 2 >= now_ms.saturating_sub(broke_ms))
}

/// How often, while the database is known to be away, a ping checks whether it is back.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// What a process knows of whether its database answers: made once per process (by
/// `App::build`, or `worker` and `beat` as they start) and handed to its pool
/// ([`connect`]), its API and its task queue; cheap to clone.
///
/// It keeps two facts. When a connection was last found broken ([`Self::note`]): the pool
/// then pings the connections idle since before their next query (a restarted server
/// closes them all). And whether the database is known to be away ([`Self::report_down`],
/// by the API's outage guard): requests are then answered at once instead of each waiting
/// the pool's connect timeout, and one background ping checks every [`PROBE_EVERY`]
/// whether it is back. The outage is logged once when it starts (a warning, not an error:
/// not a bug, and no Sentry event) and once when it ends.
#[derive(Clone, Debug, Default)]
pub struct Health(Arc<State>);

#[derive(Debug, Default)]
struct State {
    /// Read by the pool before each connection's use.
    breaks: Arc<Breaks>,
    down: AtomicBool,
    /// A [`Health::check`] runs (or ran less than [`PROBE_EVERY`] ago).
    checking: AtomicBool,
}

/// When a connection was last found broken.
#[derive(Debug)]
struct Breaks {
    /// The clock of [`Self::broken_at_ms`].
    started: Instant,
    /// When a connection was last found broken, in milliseconds since `started` (0:
    /// never).
    broken_at_ms: AtomicU64,
}

impl Default for Breaks {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            broken_at_ms: AtomicU64::new(0),
        }
    }
}

impl Breaks {
    fn clock_ms(&self) -> u64 {
        // Never 0, which means "never broke".
        self.started.elapsed().as_millis() as u64 + 1
    }

    /// Whether a pooled connection idle for `idle_for` should be pinged before its next
    /// use: it sat idle long enough to have been dropped by the server or something
    /// between, or since before a connection was last found broken. One in use a moment
    /// ago, the usual case under load, goes straight to its query.
    fn worth_testing(&self, idle_for: Duration) -> bool {
        idle_since_break(
            idle_for,
            self.clock_ms(),
            self.broken_at_ms.load(Ordering::Relaxed),
        )
    }
}

impl Health {
    /// Takes note of a failed statement: says whether `error` means the database is away
    /// (see [`unreachable`]), and if so marks the pool's idle connections suspect
    /// ([`Self::connection_broke`]).
    pub fn note(&self, error: &DbErr) -> bool {
        let away = unreachable(error);
        if away {
            self.connection_broke();
        }
        away
    }

    /// Notes that a connection to the database was found broken (or none could be had).
    pub fn connection_broke(&self) {
        let breaks = &self.0.breaks;
        breaks
            .broken_at_ms
            .store(breaks.clock_ms(), Ordering::Relaxed);
    }

    /// Whether the database is known to be away right now.
    pub fn is_down(&self) -> bool {
        self.0.down.load(Ordering::Acquire)
    }

    /// Notes that a request found the database away (for `cause`): the first such
    /// report logs the outage and starts pinging `db` until it answers again.
    pub fn report_down(&self, db: &DatabaseConnection, cause: &str) {
        self.connection_broke();
        if self.0.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!(
            error = cause,
            "the database is unreachable; requests get 503 until it answers again"
        );
        let (state, db) = (self.0.clone(), db.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            loop {
                tokio::time::sleep(PROBE_EVERY).await;
                if Arc::strong_count(&state) == 1 {
                    // The service that shared it is gone.
                    return;
                }
                // A refused connection is retried by the pool until its timeout: cut it
                // short, the next ping comes soon.
                if let Ok(Ok(())) = tokio::time::timeout(PROBE_EVERY, db.ping()).await {
                    break;
                }
            }
            state.down.store(false, Ordering::Release);
            let seconds = started.elapsed().as_secs_f64();
            tracing::info!(seconds, "the database answers again");
        });
    }

    /// Tells a full pool from a database that is away, after a request waited in vain for
    /// a pooled connection: a connection of its own, outside the pool, is opened and
    /// pinged; if the server cannot be reached, the outage starts ([`Self::report_down`]).
    /// One check at a time, at most one every [`PROBE_EVERY`]: the requests that find one
    /// under way do not wait for it.
    pub async fn check(&self, db: &DatabaseConnection) {
        if self.is_down() || self.0.checking.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(cause) = answers_outside_pool(db).await {
            self.report_down(db, &cause);
        }
        let state = self.0.clone();
        tokio::spawn(async move {
            tokio::time::sleep(PROBE_EVERY).await;
            state.checking.store(false, Ordering::Release);
        });
    }
}

/// Whether the database server answers on a connection of its own (the pool may be full):
/// `Err` with the cause when it cannot be reached. A server that answers with an error
/// (too many connections ...) answers. SQLite has no server: it always answers.
async fn answers_outside_pool(db: &DatabaseConnection) -> Result<(), String> {
    use sea_orm::sqlx::{ConnectOptions as _, Connection as _};

    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let pool = db.get_postgres_connection_pool();
    let options = pool.connect_options();
    let attempt = async {
        let mut connection = options.connect().await?;
        connection.ping().await?;
        connection.close().await
    };
    match tokio::time::timeout(pool.options().get_acquire_timeout(), attempt).await {
        Err(_) => Err("no connection to the database within its connect timeout".into()),
        Ok(Err(error)) if sqlx_unreachable(&error) => Err(error.to_string()),
        Ok(_) => Ok(()),
    }
}

/// `url`, asking for no TLS when it names PostgreSQL on this machine's loopback and says
/// nothing of TLS (no `sslmode`, no `PGSSLMODE`). Traffic on loopback never leaves the
/// machine, so TLS protects nothing there, and it costs both sides CPU on every query.
/// Any other URL is used as written.
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

/// [`connect`] without `database.statement_timeout_ms`, which bounds the API's statements:
/// for the processes and steps that serve no request (tasks, migrations), whose statements
/// may rightly run longer (the nightly purge of a large table).
pub async fn connect_unhurried(
    settings: &DatabaseSettings,
    health: &Health,
) -> Result<DatabaseConnection, DbErr> {
    let settings = DatabaseSettings {
        statement_timeout_ms: 0,
        ..settings.clone()
    };
    connect(&settings, health).await
}

/// Applies every pending migration as `serve` starts (`database.auto_migrate`): on
/// PostgreSQL with a statement timeout, on a pool of its own without it, closed once done.
pub async fn upgrade_at_start(
    db: &DatabaseConnection,
    settings: &DatabaseSettings,
) -> Result<(), DbErr> {
    if settings.statement_timeout_ms == 0
        || db.get_database_backend() != sea_orm::DbBackend::Postgres
    {
        return upgrade(db, None).await;
    }
    // A pool of a moment, with a health of its own.
    let unhurried = connect_unhurried(settings, &Health::default()).await?;
    let upgraded = upgrade(&unhurried, None).await;
    if let Err(error) = unhurried.close().await {
        tracing::debug!(%error, "closing the migrations' connections");
    }
    upgraded
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
    use super::*;

    #[test]
    fn only_connections_idle_since_a_break_or_for_long_are_pinged() {
        let ms = Duration::from_millis;
        // No break yet: only long idleness counts.
        assert!(!idle_since_break(ms(999), 5_000, 0));
        assert!(idle_since_break(TEST_IF_IDLE_FOR, 5_000, 0));
        // A break at 4,800 ms, now 5,000: idle since before it, or back in the pool since
        // (it passed sqlx's ping on release).
        assert!(idle_since_break(ms(250), 5_000, 4_800));
        assert!(!idle_since_break(ms(10), 5_000, 4_800));
        // The clock starts at 1: a break is never mistaken for "never".
        let health = Health::default();
        let pool_side = health.0.breaks.clone();
        assert!(!pool_side.worth_testing(ms(900)));
        health.connection_broke();
        assert_ne!(pool_side.broken_at_ms.load(Ordering::Relaxed), 0);
        assert!(
            pool_side.worth_testing(ms(900)),
            "idle since before the break"
        );
    }

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
