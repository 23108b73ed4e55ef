use std::process::ExitCode;

use clap::Parser;
use platform::cli::Cli;

fn main() -> ExitCode {
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("PLATFORM_LOG").unwrap_or_else(|_| "warn,aws_config=error".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.execute() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            match &failure {
                platform::cli::Failure::Invalid(diags) => {
                    for d in &diags.0 {
                        eprintln!("error: {d}");
                    }
                }
                platform::cli::Failure::Changes => {}
                platform::cli::Failure::Other(e) => {
                    eprintln!("error: {e}");
                    for cause in e.chain().skip(1) {
                        eprintln!("  caused by: {cause}");
                    }
                }
            }
            failure.exit_code()
        }
    }
}
