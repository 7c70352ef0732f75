//! Functional tests: the service runs on a random port and is called over HTTP. One file
//! per feature; what they share is in `support/`.
mod auth;
mod beat;
mod benches;
mod cli;
mod cluster;
mod docker;
mod docs;
mod errors;
mod limits;
mod logs;
mod metrics;
mod mon;
mod oidc;
mod outage;
mod persons;
mod persons_by_hand;
mod queue;
mod runs;
mod schema;
mod sentry;
mod shutdown;
mod support;
mod tasks;
mod traces;

// The service under test, reachable as `crate::service` from every test file.
use support::service;
