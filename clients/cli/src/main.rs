use clap::{Parser, Subcommand};

/// The federated imputation platform.
///
/// Exit codes: 0 done; 1 error; 2 usage; 3 the job failed or was cancelled;
/// 4 not signed in or refused.
#[derive(Debug, Parser)]
#[command(name = "fip", version, about)]
struct Cli {
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// The saved hub profile to use (see `fip login`).
    #[arg(long, global = true, env = "FIP_PROFILE")]
    profile: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform (or some of its services).
    Server(fip::server::ServerArgs),
    /// Administer accounts and keys.
    Admin(fip::admin::AdminArgs),
    #[command(flatten)]
    Researcher(fip::commands::Command),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => fip::server::run(args).await,
        Command::Admin(args) => fip::admin::run(args).await,
        Command::Researcher(command) => {
            let global = fip::commands::Global {
                profile: cli.profile,
                out: fip::output::Out { json: cli.json },
            };
            return match fip::commands::run(command, global).await {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    std::process::ExitCode::from(error.exit as u8)
                }
            };
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
