//! The project's own commands: `cargo xtask ...` (see the README).
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod fields;
mod names;
mod new;
mod plan;
mod project;
mod starter;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The project's own commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Add a resource, a task or a migration to the service.
    #[command(subcommand)]
    New(new::Command),
    /// The service starter this project was generated from.
    #[command(subcommand)]
    Starter(starter::Command),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::New(command) => new::run(command),
        Command::Starter(command) => starter::run(command),
    }
}
