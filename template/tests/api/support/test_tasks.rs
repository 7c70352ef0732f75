//! Tasks that exist only for the tests: they fail, panic or record on demand.
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use serde::{Deserialize, Serialize};

use crate::service::queue::{Job, JobCall, JobContext, JobError, Registry};
use crate::service::tasks::persons::AddOneYear;

/// Fails its first `fail_first` attempts (or every attempt, unrecoverably), then
/// returns the attempt that succeeded.
pub struct Flaky;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FlakyArgs {
    #[serde(default)]
    pub fail_first: u32,
    #[serde(default)]
    pub unrecoverable: bool,
}

impl Job for Flaky {
    const NAME: &'static str = "test.flaky";
    type Args = FlakyArgs;
    type Output = u32;

    async fn run(ctx: JobContext, args: FlakyArgs) -> Result<u32, JobError> {
        if args.unrecoverable {
            return Err(JobError::unrecoverable("this cannot work"));
        }
        if ctx.attempt <= args.fail_first {
            return Err(JobError::failed(format!("attempt {} failed", ctx.attempt)));
        }
        Ok(ctx.attempt)
    }
}

/// Panics, and is not retried.
pub struct Panics;

impl Job for Panics {
    const NAME: &'static str = "test.panics";
    const MAX_RETRIES: u32 = 0;
    type Args = ();
    type Output = ();

    async fn run(_ctx: JobContext, _args: ()) -> Result<(), JobError> {
        panic!("a bug in a task")
    }
}

/// Sends SQL the database refuses, and is not retried: its error names a table.
pub struct BadSql;

impl Job for BadSql {
    const NAME: &'static str = "test.bad_sql";
    const MAX_RETRIES: u32 = 0;
    type Args = ();
    type Output = ();

    async fn run(ctx: JobContext, _args: ()) -> Result<(), JobError> {
        use sea_orm::ConnectionTrait;

        ctx.db()
            .execute_unprepared("SELECT secret_column FROM no_such_table")
            .await?;
        Ok(())
    }
}

/// Returns `JobError::Superseded` on its first attempt though no other run took it over
/// (a body that misuses it), then succeeds.
pub struct SaysSuperseded;

impl Job for SaysSuperseded {
    const NAME: &'static str = "test.says_superseded";
    type Args = ();
    type Output = u32;

    async fn run(ctx: JobContext, _args: ()) -> Result<u32, JobError> {
        if ctx.attempt == 1 {
            return Err(JobError::Superseded);
        }
        Ok(ctx.attempt)
    }
}

/// Returns a string with a NUL character, which PostgreSQL's JSON refuses to store.
pub struct NulResult;

impl Job for NulResult {
    const NAME: &'static str = "test.nul_result";
    type Args = ();
    type Output = String;

    async fn run(_ctx: JobContext, _args: ()) -> Result<String, JobError> {
        Ok("before\u{0}after".into())
    }
}

/// Blocks its thread (as synchronous work does) for `millis`, and counts its runs by
/// `key` in this process.
pub struct Blocks;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BlocksArgs {
    pub key: String,
    pub millis: u64,
}

/// Runs of [`Blocks`] by key.
pub static BLOCKS_RUNS: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Mutex::default);

impl Job for Blocks {
    const NAME: &'static str = "test.blocks";
    type Args = BlocksArgs;
    type Output = ();

    async fn run(_ctx: JobContext, args: BlocksArgs) -> Result<(), JobError> {
        if let Ok(mut runs) = BLOCKS_RUNS.lock() {
            *runs.entry(args.key).or_default() += 1;
        }
        std::thread::sleep(std::time::Duration::from_millis(args.millis));
        Ok(())
    }
}

/// The service's own example task, plus the ones above.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        Registry::default()
            .register::<AddOneYear>()
            .register::<Flaky>()
            .register::<Panics>()
            .register::<BadSql>()
            .register::<NulResult>()
            .register::<SaysSuperseded>()
            .register::<Blocks>()
    });
    &REGISTRY
}

pub fn flaky(fail_first: u32) -> JobCall {
    JobCall::new::<Flaky>(FlakyArgs {
        fail_first,
        unrecoverable: false,
    })
    .expect("call")
}

pub fn unrecoverable() -> JobCall {
    JobCall::new::<Flaky>(FlakyArgs {
        fail_first: 0,
        unrecoverable: true,
    })
    .expect("call")
}

pub fn panics() -> JobCall {
    JobCall::new::<Panics>(()).expect("call")
}

pub fn bad_sql() -> JobCall {
    JobCall::new::<BadSql>(()).expect("call")
}

pub fn says_superseded() -> JobCall {
    JobCall::new::<SaysSuperseded>(()).expect("call")
}

pub fn nul_result() -> JobCall {
    JobCall::new::<NulResult>(()).expect("call")
}

pub fn blocks(key: &str, millis: u64) -> JobCall {
    JobCall::new::<Blocks>(BlocksArgs {
        key: key.into(),
        millis,
    })
    .expect("call")
}
