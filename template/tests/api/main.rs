//! Functional tests: the service runs on a random port and is called over HTTP. One file
//! per feature; what they share is in `support/`.
mod beat;
mod benches;
mod cli;
mod cluster;
mod docker;
mod docs;
mod errors;
mod logs;
mod metrics;
mod mon;
mod outage;
mod persons;
mod queue;
mod schema;
mod sentry;
mod shutdown;
mod support;
mod tasks;
mod traces;

// The service under test, reachable as `crate::service` from every test file.
use support::service;
