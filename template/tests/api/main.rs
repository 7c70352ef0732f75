//! Functional tests: the service runs on a random port and is called over HTTP.
mod background;
mod beat;
mod cli;
mod docs;
mod errors;
mod helpers;
mod listeners;
mod logs;
mod metrics;
mod mon;
mod persons;
mod queue;
mod sentry;
mod service;
mod shutdown;
mod tasks;
mod test_tasks;
