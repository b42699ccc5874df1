//! Starts Rampart: read the configuration, set up logging, serve until told to stop. With a
//! subcommand (`server add-migration …`), runs that instead.

use std::process::ExitCode;

use server::{cli, config::Config, startup::Application, telemetry};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("rampart: configuration error: {error}");
            return ExitCode::from(2);
        }
    };

    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(outcome) = cli::run(&config, &args).await {
        return match outcome {
            Ok(message) => {
                println!("{message}");
                ExitCode::SUCCESS
            }
            Err(message) => {
                eprintln!("rampart: {message}");
                ExitCode::from(2)
            }
        };
    }

    telemetry::init(config.log_format);
    let application = match Application::build(config).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(error = %server::error::chain(&error), "rampart could not start");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(address = %application.address(), "rampart is listening");
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %server::error::chain(&error), "rampart stopped on an error");
            ExitCode::FAILURE
        }
    }
}
