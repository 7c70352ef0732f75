//! Tasks that exist only for the tests: they fail, panic or record on demand.
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use crate::service::tasks::persons::AddOneYear;
use crate::service::tasks::{Registry, Task, TaskCall, TaskContext, TaskError};

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

impl Task for Flaky {
    const NAME: &'static str = "test.flaky";
    type Args = FlakyArgs;
    type Output = u32;

    async fn run(ctx: TaskContext, args: FlakyArgs) -> Result<u32, TaskError> {
        if args.unrecoverable {
            return Err(TaskError::unrecoverable("this cannot work"));
        }
        if ctx.attempt <= args.fail_first {
            return Err(TaskError::failed(format!("attempt {} failed", ctx.attempt)));
        }
        Ok(ctx.attempt)
    }
}

/// Panics, and is not retried.
pub struct Panics;

impl Task for Panics {
    const NAME: &'static str = "test.panics";
    const MAX_RETRIES: u32 = 0;
    type Args = ();
    type Output = ();

    async fn run(_ctx: TaskContext, _args: ()) -> Result<(), TaskError> {
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

pub fn flaky(fail_first: u32) -> TaskCall {
    TaskCall::new::<Flaky>(FlakyArgs {
        fail_first,
        unrecoverable: false,
    })
    .expect("call")
}

pub fn unrecoverable() -> TaskCall {
    TaskCall::new::<Flaky>(FlakyArgs {
        fail_first: 0,
        unrecoverable: true,
    })
    .expect("call")
}

pub fn panics() -> TaskCall {
    TaskCall::new::<Panics>(()).expect("call")
}
