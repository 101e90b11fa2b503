use clap::{Parser, Subcommand};

/// The federated imputation platform.
#[derive(Debug, Parser)]
#[command(name = "fip", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the platform (or some of its services).
    Server(fip::server::ServerArgs),
    /// Administer accounts and keys.
    Admin(fip::admin::AdminArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => fip::server::run(args).await,
        Command::Admin(args) => fip::admin::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
