//! `fip login`, `fip logout`.

use std::io::BufRead;

use clap::Args;
use fip_proto::user::v1 as user;
use serde_json::json;

use super::Global;
use crate::hub::error::explain;
use crate::hub::profile::{self, Profile, Profiles};
use crate::hub::session::{self, DEFAULT_URL, now};
use crate::hub::{CliError, Hub};

/// `fip login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The hub's URL (default: the profile's, FIP_URL, or http://127.0.0.1:8080).
    #[arg(long)]
    pub url: Option<String>,
    /// The account's username (prompted for when not given).
    #[arg(long)]
    pub username: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

fn read_line(prompt: Option<&str>) -> Result<String, CliError> {
    if let Some(prompt) = prompt {
        eprint!("{prompt}");
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::error(format!("cannot read standard input: {e}")))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// Signs in and saves the session in the profile.
pub async fn login(args: LoginArgs, global: &Global) -> Result<(), CliError> {
    let profiles = Profiles::load()?;
    let name = profiles.chosen(global.profile.as_deref());
    let saved = profiles.profiles.get(&name);
    let url = args
        .url
        .or_else(|| std::env::var("FIP_URL").ok().filter(|u| !u.is_empty()))
        .or_else(|| saved.map(|p| p.url.clone()))
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let username = match args.username {
        Some(username) => username,
        None if args.password_stdin => {
            return Err(CliError::usage(
                "--password-stdin needs --username: standard input carries the password",
            ));
        }
        None => read_line(Some("username: "))?,
    };
    let password = if args.password_stdin {
        read_line(None)?
    } else {
        rpassword::prompt_password("password: ")
            .map_err(|e| CliError::error(format!("cannot read the password: {e}")))?
    };
    if username.is_empty() || password.is_empty() {
        return Err(CliError::usage("a username and a password are needed"));
    }
    let channel = session::channel(&url)?;
    let reply = user::user_service_client::UserServiceClient::new(channel)
        .login(user::LoginRequest {
            username: username.clone(),
            password,
        })
        .await
        .map_err(|status| explain(&status, None, &name))?
        .into_inner();
    profile::store(
        &name,
        Profile {
            url: url.clone(),
            username: username.clone(),
            access_token: reply.access_token,
            access_expires_at: now() + reply.expires_in,
            refresh_token: reply.refresh_token,
        },
    )?;
    if global.out.json {
        global
            .out
            .print_json(&json!({"profile": name, "url": url, "username": username}));
    } else {
        println!("signed in to {url} as {username} (profile {name})");
    }
    Ok(())
}

/// Ends the session on the hub and forgets its tokens.
pub async fn logout(global: &Global) -> Result<(), CliError> {
    let hub = Hub::open(global.profile.as_deref())?;
    let name = hub.profile.clone();
    hub.logout().await?;
    if global.out.json {
        global
            .out
            .print_json(&json!({"profile": name, "signed_out": true}));
    } else {
        println!("signed out (profile {name})");
    }
    Ok(())
}
