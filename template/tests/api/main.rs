//! Functional tests: the service runs on a random port and is called over HTTP.
mod beat;
mod cli;
mod docker;
mod docs;
mod errors;
mod logs;
mod metrics;
mod mon;
mod persons;
mod queue;
mod schema;
mod sentry;
mod shutdown;
mod support;
mod tasks;

use support::{background, helpers, listeners, service, test_tasks};
