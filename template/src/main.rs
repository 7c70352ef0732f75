use std::process::ExitCode;

fn main() -> ExitCode {
    foo::cli::run()
}
