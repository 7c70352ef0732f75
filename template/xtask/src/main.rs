//! The project's own commands: `cargo xtask ...` (see the README).
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod starter;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "The project's own commands")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The service starter this project was generated from.
    #[command(subcommand)]
    Starter(starter::Command),
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Starter(command) => starter::run(command),
    }
}
