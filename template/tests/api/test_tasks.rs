//! Tasks that exist only for the tests: they fail, panic or record on demand.
use std::sync::LazyLock;

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

/// The service's own example task, plus the ones above.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        Registry::default()
            .register::<AddOneYear>()
            .register::<Flaky>()
            .register::<Panics>()
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
