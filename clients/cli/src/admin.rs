//! `fip admin`: operator commands run against the configured databases.

use std::io::Read;
use std::path::PathBuf;

use fip_kit::config::Config;
use fip_user::accounts::Registration;

#[derive(Debug, clap::Args)]
pub struct AdminArgs {
    /// A TOML configuration file (FIP_* environment variables override it).
    #[arg(long, short, env = "FIP_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Where databases and keys live (as given to `fip server`).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AdminCommand {
    /// Create an account; with --admin, the first administrator.
    CreateUser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Platform")]
        first_name: String,
        #[arg(long, default_value = "Administrator")]
        last_name: String,
        /// Give the account the admin role.
        #[arg(long)]
        admin: bool,
        /// Read the password from standard input; otherwise one is generated
        /// and printed once.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Add a new credential-encryption key and re-encrypt every stored
    /// credential under it; old keys stay in the key file so nothing is lost.
    RotateCredentialKey,
}

fn generated_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    match args.command {
        AdminCommand::CreateUser {
            username,
            email,
            first_name,
            last_name,
            admin,
            password_stdin,
        } => {
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                (text.trim_end_matches(['\n', '\r']).to_string(), false)
            } else {
                (generated_password(), true)
            };
            let user = fip_user::admin::create_user(
                &config,
                Registration {
                    username,
                    email,
                    password: password.clone(),
                    first_name,
                    last_name,
                    ..Default::default()
                },
                admin,
            )
            .await?;
            let role = if admin { "admin" } else { "user" };
            println!("created {role} {} (id {})", user.username, user.id);
            if generated {
                println!("password: {password}");
                println!("(shown once; change it after the first login)");
            }
        }
        AdminCommand::RotateCredentialKey => {
            let rotation = fip_user::admin::rotate_credential_key(&config).await?;
            println!(
                "active credential key: {}; re-encrypted {} credentials ({} already current)",
                rotation.active_key_id, rotation.resealed, rotation.already_current
            );
        }
    }
    Ok(())
}
