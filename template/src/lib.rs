//! The service as a library: `main.rs` and the tests build it the same way.
pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod controllers;
pub mod db;
pub mod metrics;
pub mod models;
pub mod platform;
pub mod queue;
pub mod server;
pub mod tasks;
pub mod telemetry;
