//! Functional tests: the service runs on a random port and is called over HTTP.
mod cli;
mod errors;
mod helpers;
mod mon;
mod persons;
mod service;
mod shutdown;
