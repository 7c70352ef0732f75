//! The command line: `serve`, `worker`, `beat`, `db ...`, `config`.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app::App;
use crate::config::{BeatSettings, ConfigError, Settings};
use crate::queue::{self, Broker, RedisQueue};
use crate::{api, auth, db, server, tasks, telemetry};

mod health;

/// The service and its maintenance commands.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve,
    /// Run background tasks from the Redis queue.
    Worker,
    /// Schedule tasks on the cron patterns of `beat.schedules` (run one or more).
    Beat,
    /// Manage the database schema.
    #[command(subcommand)]
    Db(DbCommand),
    /// Manage the API keys machines call the API with.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Print the effective configuration, secrets hidden.
    Config,
    /// Print the OpenAPI document of the API (JSON), as served at `/doc/openapi.json`.
    Openapi,
    /// Exit 0 if URL (by default this config's `/mon/ping`) answers 2xx within 2 s: the
    /// container health check, with no curl in the image.
    Health { url: Option<String> },
}

#[derive(Debug, Subcommand)]
enum DbCommand {
    /// Apply pending migrations: all of them, or the next N.
    Upgrade { steps: Option<u32> },
    /// Revert the last N applied migrations (1 by default).
    Downgrade {
        #[arg(default_value_t = 1)]
        steps: u32,
    },
    /// List migrations and whether each is applied. (`cargo xtask new migration NAME`
    /// writes a new one, in the source tree.)
    Status,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a key and print it (on stdout, alone): the only time it is shown.
    Create {
        /// The key's name: the caller's name in logs and on the tasks it schedules.
        #[arg(long)]
        name: String,
        /// A permission the key gives (`persons:read`); repeat for more.
        #[arg(long = "scope", required = true)]
        scopes: Vec<String>,
        /// The key stops working after this long: `90d`, `12h`, `30m`, `45s`.
        #[arg(long, value_parser = lifetime)]
        expires_in: Option<std::time::Duration>,
    },
    /// List the keys: name, prefix, scopes, created, expires, last used, revoked.
    List,
    /// Revoke the key named NAME (every instance refuses it within
    /// `auth.api_keys.cache_secs`).
    Revoke { name: String },
}

/// `90d`, `12h`, `30m` or `45s`.
fn lifetime(text: &str) -> Result<std::time::Duration, String> {
    let wrong = || format!("{text:?} is not a lifetime such as 90d, 12h, 30m or 45s");
    let split = text.len().checked_sub(1).ok_or_else(wrong)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| wrong())?;
    let seconds = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(wrong()),
    };
    match number.checked_mul(seconds) {
        Some(0) | None => Err(wrong()),
        Some(total) => Ok(std::time::Duration::from_secs(total)),
    }
}

/// Parses the command line, runs the command and returns the process's exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    // One TLS provider for every crate that uses rustls (database, later Redis and Sentry).
    let _ = rustls::crypto::ring::default_provider().install_default();

    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(error) => return fail(error),
    };
    if let Err(error) = check_schedules(&settings.beat, tasks::registry()) {
        return fail(error);
    }
    match cli.command {
        Command::Config => {
            print!("{}", settings.redacted_yaml());
            return ExitCode::SUCCESS;
        }
        Command::Health { url } => {
            // By default the API's port, then `metrics.listen` (worker and beat containers
            // share the image's health check): healthy when either answers.
            let urls = match url {
                Some(url) => vec![url],
                None => health::default_urls(&settings),
            };
            let mut failures = Vec::new();
            for url in &urls {
                match health::check(url) {
                    Ok(()) => return ExitCode::SUCCESS,
                    Err(error) => failures.push(format!("{url}: {error}")),
                }
            }
            return fail(failures.join("; "));
        }
        Command::Openapi => {
            return match api::openapi(&settings).to_pretty_json() {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(error) => fail(error),
            };
        }
        _ => {}
    }
    // Kept to the end: dropping it flushes the log queues and Sentry.
    let _telemetry = match telemetry::init(&settings) {
        Ok(telemetry) => telemetry,
        Err(error) => return fail(error),
    };

    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(error),
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            Command::Serve => serve(settings).await,
            Command::Worker => worker(settings).await,
            Command::Beat => beat(settings).await,
            Command::Db(command) => run_db(settings, command).await,
            Command::Keys(command) => run_keys(settings, command).await,
            Command::Config | Command::Openapi | Command::Health { .. } => Ok(()),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(error),
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Checks what the configuration cannot know alone: that each beat schedule names a
/// registered task and gives it arguments it accepts. Every command checks, as it checks
/// the rest of the configuration.
fn check_schedules(beat: &BeatSettings, registry: &queue::Registry) -> Result<(), ConfigError> {
    for (name, schedule) in &beat.schedules {
        let Some(task) = registry.get(&schedule.task) else {
            return Err(ConfigError::new(format!(
                "beat.schedules.{name}.task {:?} is not a registered task (known: {})",
                schedule.task,
                registry.names().join(", ")
            )));
        };
        let args = match &schedule.args {
            serde_json::Value::Null => serde_json::json!({}),
            args => args.clone(),
        };
        if let Err(error) = task.check_args(&args) {
            return Err(ConfigError::new(format!(
                "beat.schedules.{name}.args: {error}"
            )));
        }
    }
    Ok(())
}

async fn serve(settings: Settings) -> Result<(), BoxError> {
    let app = App::build(settings).await?;
    app.run_until_stopped(shutdown_signal()).await?;
    Ok(())
}

/// The queue on Redis that `process` (the worker, beat) runs on; an error before anything
/// starts when tasks run in-process.
async fn redis_queue(settings: &Settings, process: &'static str) -> Result<RedisQueue, BoxError> {
    let health = db::Health::default();
    let conn = db::connect_unhurried(&settings.database, &health).await?;
    Ok(tasks::queue(conn, &health, settings)?.on_redis(process)?)
}

async fn worker(settings: Settings) -> Result<(), BoxError> {
    let tasks = redis_queue(&settings, "the worker").await?;
    serve_metrics(&settings, tasks.broker()).await?;
    queue::worker::run(tasks, shutdown_signal()).await?;
    Ok(())
}

async fn beat(settings: Settings) -> Result<(), BoxError> {
    let tasks = redis_queue(&settings, "beat").await?;
    serve_metrics(&settings, tasks.broker()).await?;
    queue::beat::run(tasks, &settings.beat, shutdown_signal()).await?;
    Ok(())
}

/// For processes without an API port: `/metrics` and `/mon/ping` on `metrics.listen`.
async fn serve_metrics(settings: &Settings, broker: &Broker) -> Result<(), BoxError> {
    let Some(address) = settings.metrics.listen else {
        return Ok(());
    };
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|e| format!("cannot listen on {address} (metrics.listen): {e}"))?;
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "serving /metrics");
    }
    let router = api::mon::standalone(broker.clone(), settings.server.max_in_flight);
    // The API's server and limits (`server.*`); it stops with the process.
    let limits = server::Limits::from(&settings.server);
    tokio::spawn(server::serve(
        listener,
        router,
        limits,
        std::future::pending(),
    ));
    Ok(())
}

async fn run_db(settings: Settings, command: DbCommand) -> Result<(), BoxError> {
    let conn = db::connect_unhurried(&settings.database, &db::Health::default()).await?;
    match command {
        DbCommand::Upgrade { steps } => {
            db::upgrade(&conn, steps).await?;
            print_status(&conn).await?;
        }
        DbCommand::Downgrade { steps } => {
            db::downgrade(&conn, steps).await?;
            print_status(&conn).await?;
        }
        DbCommand::Status => print_status(&conn).await?,
    }
    Ok(())
}

async fn run_keys(settings: Settings, command: KeysCommand) -> Result<(), BoxError> {
    let conn = db::connect(&settings.database, &db::Health::default()).await?;
    if settings.database.auto_migrate {
        // As `serve` does (dev): the keys' table exists on a fresh database too.
        db::upgrade(&conn, None).await?;
    }
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires_in,
        } => {
            let made = auth::keys::create(&conn, &name, &scopes, expires_in).await?;
            let expires = made
                .row
                .expires_at
                .map_or("never".to_owned(), |at| at.to_rfc3339());
            eprintln!(
                "key {} made: prefix {}, scopes {}, expires {expires}. It is shown once, \
                 below: keep it in your secret store.",
                made.row.name, made.row.prefix, made.row.scopes
            );
            println!("{}", made.key);
        }
        KeysCommand::List => {
            let time = |at: Option<chrono::DateTime<chrono::Utc>>| {
                at.map_or("-".to_owned(), |at| {
                    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                })
            };
            println!("NAME\tPREFIX\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tREVOKED");
            for key in auth::keys::list(&conn).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    key.name,
                    key.prefix,
                    key.scopes,
                    time(Some(key.created_at)),
                    time(key.expires_at),
                    time(key.last_used_at),
                    time(key.revoked_at)
                );
            }
        }
        KeysCommand::Revoke { name } => {
            if !auth::keys::revoke(&conn, &name).await? {
                return Err(format!("no key named {name:?} is in use").into());
            }
            eprintln!(
                "key {name} revoked: refused everywhere within {} s",
                settings.auth.api_keys.cache_secs
            );
        }
    }
    Ok(())
}

async fn print_status(conn: &sea_orm::DatabaseConnection) -> Result<(), BoxError> {
    for (name, applied) in db::status(conn).await? {
        println!("{} {name}", if applied { "applied" } else { "pending" });
    }
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

fn fail(error: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn key_lifetimes_are_a_number_and_a_unit() {
        assert_eq!(
            lifetime("90d"),
            Ok(std::time::Duration::from_secs(90 * 86_400))
        );
        assert_eq!(
            lifetime("12h"),
            Ok(std::time::Duration::from_secs(12 * 3_600))
        );
        assert_eq!(lifetime("45s"), Ok(std::time::Duration::from_secs(45)));
        for bad in ["", "d", "0d", "90", "1w", "-1d", "99999999999999999d"] {
            assert!(lifetime(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn beat_schedules_must_name_a_registered_task_with_fitting_arguments() {
        for (var, value, expected) in [
            (
                "TASK",
                "persons.nope",
                "configuration error: beat.schedules.purge-finished-tasks.task \"persons.nope\" \
                 is not a registered task (known: ",
            ),
            (
                "ARGS__OLDER_THAN_DAYS",
                "soon",
                "configuration error: beat.schedules.purge-finished-tasks.args: ",
            ),
        ] {
            let name = format!("APP__BEAT__SCHEDULES__PURGE-FINISHED-TASKS__{var}");
            let vars = HashMap::from([(name, value.to_owned())]);
            let settings = Settings::load_from(&vars).expect("the config alone is fine");
            let error = check_schedules(&settings.beat, tasks::registry())
                .expect_err("refused")
                .to_string();
            assert!(error.starts_with(expected), "{var}: {error}");
        }
        let settings = Settings::load_from(&HashMap::new()).expect("loads");
        assert!(check_schedules(&settings.beat, tasks::registry()).is_ok());
    }
}
