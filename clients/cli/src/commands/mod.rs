//! The researcher's commands, one module per group.

pub mod catalog;
pub mod check;
pub mod credentials;
pub mod jobs;
pub mod login;
pub mod names;
pub mod submit;
pub mod transfer;

use clap::Subcommand;

use crate::hub::CliError;
use crate::output::Out;

/// Options every researcher command takes.
#[derive(Clone, Debug)]
pub struct Global {
    /// `--profile`: which saved hub.
    pub profile: Option<String>,
    /// How to print.
    pub out: Out,
}

/// The researcher's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in to a hub and save the session in a profile.
    Login(login::LoginArgs),
    /// Sign out: end the session on the hub and forget its tokens.
    Logout,
    /// List the imputation services.
    Services,
    /// List reference panels (populations, builds).
    Panels(catalog::PanelsArgs),
    /// Manage your API tokens for the imputation services.
    #[command(subcommand)]
    Credentials(credentials::CredentialsCommand),
    /// Check a VCF locally, as the hub will, without uploading it.
    Check(check::CheckArgs),
    /// Upload a VCF and submit it to one or several services and panels.
    Submit(submit::SubmitArgs),
    /// List your jobs.
    Jobs(jobs::JobsArgs),
    /// Show one job.
    Status(jobs::JobArg),
    /// Follow a job live until it ends.
    Watch(jobs::JobArg),
    /// Print a job's log.
    Logs(jobs::JobArg),
    /// List a job's result files.
    Results(jobs::JobArg),
    /// Download every result file of a job (resumes, checks SHA-256).
    Download(transfer::DownloadArgs),
    /// Cancel a job.
    Cancel(jobs::JobArg),
    /// List your notifications.
    Notifications,
}

/// Runs one researcher command.
pub async fn run(command: Command, global: Global) -> Result<(), CliError> {
    match command {
        Command::Login(args) => login::login(args, &global).await,
        Command::Logout => login::logout(&global).await,
        Command::Services => catalog::services(&global).await,
        Command::Panels(args) => catalog::panels(args, &global).await,
        Command::Credentials(command) => credentials::run(command, &global).await,
        Command::Check(args) => check::check(args, &global).await,
        Command::Submit(args) => submit::submit(args, &global).await,
        Command::Jobs(args) => jobs::list(args, &global).await,
        Command::Status(args) => jobs::status(args, &global).await,
        Command::Watch(args) => jobs::watch_command(args, &global).await,
        Command::Logs(args) => jobs::logs(args, &global).await,
        Command::Results(args) => jobs::results(args, &global).await,
        Command::Download(args) => transfer::download_command(args, &global).await,
        Command::Cancel(args) => jobs::cancel(args, &global).await,
        Command::Notifications => jobs::notifications(&global).await,
    }
}
