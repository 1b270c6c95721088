//! The `switchboard` binary: parse the command line, set up logging, run.

use clap::Parser;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    switchboard::logging::init();
    match switchboard::cli::run(switchboard::cli::Cli::parse()).await {
        Ok(switchboard::cli::Outcome::Success) => std::process::ExitCode::SUCCESS,
        Ok(switchboard::cli::Outcome::Failure) => std::process::ExitCode::FAILURE,
        Err(e) => {
            log::error!("event=fatal error={e:#}");
            eprintln!("switchboard: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
