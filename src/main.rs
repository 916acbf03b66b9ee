//! The `ohproxy` binary: parse the command line, run it, turn an error into one line and
//! an exit code. Everything else lives in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ohproxy::cli::Cli::parse();
    ohproxy::ui::init(cli.global.quiet, cli.global.verbose);
    match ohproxy::commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            ohproxy::ui::report_error(&err);
            ExitCode::from(ohproxy::error::exit_code(&err))
        }
    }
}
