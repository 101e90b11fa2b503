//! `fip credentials list|set|test|rm`: the user's own API tokens.

use std::io::BufRead;

use clap::Subcommand;
use fip_proto::user::v1 as user;
use serde_json::json;
use user::credential_service_client::CredentialServiceClient;

use super::Global;
use super::catalog::{all_services, find_service};
use crate::hub::session::authed;
use crate::hub::{CliError, Hub};
use crate::output::time;

/// `fip credentials ...`.
#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// List your stored credentials (never the tokens, only their tail).
    List,
    /// Store or replace your API token for a service.
    Set {
        /// The service (id or slug).
        service: String,
        /// Read the token from the first line of standard input.
        #[arg(long)]
        token_stdin: bool,
        /// A label, e.g. "lab account".
        #[arg(long)]
        label: Option<String>,
    },
    /// Ask the service whether it accepts your stored token.
    Test {
        /// The service (id or slug).
        service: String,
    },
    /// Delete your credential for a service.
    Rm {
        /// The service (id or slug).
        service: String,
    },
}

/// Runs a credentials command.
pub async fn run(command: CredentialsCommand, global: &Global) -> Result<(), CliError> {
    let mut hub = Hub::open(global.profile.as_deref())?;
    let services = all_services(&mut hub).await?;
    match command {
        CredentialsCommand::List => {
            let list = hub
                .call(|channel, token| async move {
                    CredentialServiceClient::new(channel)
                        .list_service_credentials(authed(
                            user::ListServiceCredentialsRequest {},
                            &token,
                        ))
                        .await
                })
                .await?
                .into_inner()
                .credentials;
            let slug_of = |id: i64| {
                services
                    .iter()
                    .find(|s| s.id == id)
                    .map(|s| s.slug.clone())
                    .unwrap_or_else(|| id.to_string())
            };
            if global.out.json {
                let items: Vec<_> = list
                    .iter()
                    .map(|c| {
                        json!({
                            "service_id": c.service_id, "service": slug_of(c.service_id),
                            "label": c.label, "masked_token": c.masked_token,
                            "is_verified": c.is_verified,
                            "last_verified_at": time(c.last_verified_at.as_ref()),
                            "last_used_at": time(c.last_used_at.as_ref()),
                            "verification_error": c.verification_error,
                        })
                    })
                    .collect();
                global.out.print_json(&json!({ "credentials": items }));
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|c| {
                        vec![
                            slug_of(c.service_id),
                            c.label.clone(),
                            c.masked_token.clone(),
                            if c.is_verified { "yes" } else { "no" }.to_owned(),
                            time(c.last_verified_at.as_ref()),
                            time(c.last_used_at.as_ref()),
                        ]
                    })
                    .collect();
                global.out.table(
                    &[
                        "SERVICE",
                        "LABEL",
                        "TOKEN",
                        "VERIFIED",
                        "LAST VERIFIED",
                        "LAST USED",
                    ],
                    &rows,
                );
            }
        }
        CredentialsCommand::Set {
            service,
            token_stdin,
            label,
        } => {
            let service = find_service(&services, &service)?.clone();
            let api_token = if token_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| CliError::error(format!("cannot read standard input: {e}")))?;
                line.trim().to_owned()
            } else {
                rpassword::prompt_password(format!("API token for {}: ", service.name))
                    .map_err(|e| CliError::error(format!("cannot read the token: {e}")))?
                    .trim()
                    .to_owned()
            };
            if api_token.is_empty() {
                return Err(CliError::usage(format!(
                    "no token given: paste your {} API token (see {})",
                    service.name,
                    if service.auth_instructions_url.is_empty() {
                        "the service's profile page"
                    } else {
                        service.auth_instructions_url.as_str()
                    }
                )));
            }
            let request = user::PutServiceCredentialRequest {
                service_id: service.id,
                credential_type: user::CredentialType::ApiToken as i32,
                api_token,
                label: label.unwrap_or_default(),
                ..Default::default()
            };
            let credential = hub
                .call(|channel, token| {
                    let request = request.clone();
                    async move {
                        CredentialServiceClient::new(channel)
                            .put_service_credential(authed(request, &token))
                            .await
                    }
                })
                .await?
                .into_inner()
                .credential
                .unwrap_or_default();
            if global.out.json {
                global.out.print_json(&json!({
                    "service": service.slug, "masked_token": credential.masked_token,
                    "label": credential.label,
                }));
            } else {
                println!(
                    "stored your token for {} ({}); run `fip credentials test {}` to check it",
                    service.name, credential.masked_token, service.slug
                );
            }
        }
        CredentialsCommand::Test { service } => {
            let service = find_service(&services, &service)?.clone();
            let id = service.id;
            let reply = hub
                .call(|channel, token| async move {
                    CredentialServiceClient::new(channel)
                        .verify_service_credential(authed(
                            user::VerifyServiceCredentialRequest { service_id: id },
                            &token,
                        ))
                        .await
                })
                .await?
                .into_inner();
            if global.out.json {
                global.out.print_json(&json!({
                    "service": service.slug, "valid": reply.valid, "message": reply.message,
                    "remote_username": reply.remote_username,
                    "response_time_ms": reply.response_time_ms,
                }));
            }
            if !reply.valid {
                return Err(CliError::refused(format!(
                    "{} refused your token ({}): store a new one with `fip credentials set {}`",
                    service.name, reply.message, service.slug
                )));
            }
            if !global.out.json {
                let who = if reply.remote_username.is_empty() {
                    String::new()
                } else {
                    format!(" as {}", reply.remote_username)
                };
                println!(
                    "{} accepts your token{who} ({} ms)",
                    service.name, reply.response_time_ms
                );
            }
        }
        CredentialsCommand::Rm { service } => {
            let service = find_service(&services, &service)?.clone();
            let id = service.id;
            hub.call(|channel, token| async move {
                CredentialServiceClient::new(channel)
                    .delete_service_credential(authed(
                        user::DeleteServiceCredentialRequest { service_id: id },
                        &token,
                    ))
                    .await
            })
            .await?;
            if global.out.json {
                global
                    .out
                    .print_json(&json!({"service": service.slug, "deleted": true}));
            } else {
                println!("deleted your credential for {}", service.name);
            }
        }
    }
    Ok(())
}
