//! The `regua` command. Everything lives in the library; this only parses and dispatches.

#![forbid(unsafe_code)]

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = regua::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("REGUA_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match regua::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            // The whole cause chain, once.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
