//! `cargo generate`, from the cargo-generate library pinned in Cargo.lock.
use std::process::ExitCode;

use cargo_generate::{Cli, generate, list_favorites};
use clap::Parser;

fn main() -> ExitCode {
    env_logger::builder()
        .format(cargo_generate::log_formatter)
        .filter_level(log::LevelFilter::Info)
        .parse_default_env()
        .init();

    let Cli::Generate(args) = Cli::parse();
    let outcome = if args.list_favorites {
        list_favorites(&args)
    } else {
        generate(args).map(|_| ())
    };
    // cargo-generate has already printed what went wrong.
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
