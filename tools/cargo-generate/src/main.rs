//! `cargo generate`, from the cargo-generate library pinned in Cargo.lock.
use std::process::ExitCode;

use cargo_generate::{Cli, generate, list_favorites};
use clap::Parser;

/// The variables cargo-generate reads for the `authors` placeholder, git config aside.
const AUTHOR_VARIABLES: [&str; 6] = [
    "CARGO_NAME",
    "GIT_AUTHOR_NAME",
    "GIT_COMMITTER_NAME",
    "USER",
    "USERNAME",
    "NAME",
];

fn main() -> ExitCode {
    // Built without git support, cargo-generate cannot read user.name from git config and
    // stops when none of these is set (minimal containers, CI). Templates that do not use
    // `authors` should still render there.
    if AUTHOR_VARIABLES
        .iter()
        .all(|name| std::env::var_os(name).is_none())
    {
        // SAFETY: nothing else runs yet; no other thread reads the environment.
        unsafe { std::env::set_var("CARGO_NAME", "unknown") };
    }
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
