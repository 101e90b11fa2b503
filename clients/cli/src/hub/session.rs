//! A signed-in connection to a hub. Every call carries the access token;
//! the session is renewed a minute before the token expires and once more
//! when a call answers `TOKEN_EXPIRED`, and each new refresh token is saved
//! at once (each works only once).

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fip_kit::error::ApiError;
use fip_proto::common::v1::ErrorReason;
use fip_proto::registry::v1 as registry;
use fip_proto::user::v1 as user;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

use super::error::{CliError, Named, explain};
use super::profile::{self, Profile, Profiles};

/// How long before expiry the access token is renewed.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// Where a hub is when nothing says otherwise.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

enum Auth {
    /// `FIP_TOKEN`: used as it is, never renewed or saved.
    Fixed(String),
    /// A saved profile's session.
    Profile(Profile),
}

/// A connection to one hub as one signed-in user.
pub struct Hub {
    /// The gateway URL.
    pub url: String,
    /// The profile's name.
    pub profile: String,
    channel: Channel,
    auth: Auth,
}

/// The current Unix time in seconds.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// A channel to `url` (connected lazily, so that a hub that is down is
/// reported by the first call with the URL named).
pub fn channel(url: &str) -> Result<Channel, CliError> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|_| {
        CliError::usage(format!(
            "{url} is not a URL: give the hub as e.g. http://127.0.0.1:8080"
        ))
    })?;
    Ok(endpoint
        .connect_timeout(Duration::from_secs(10))
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy())
}

/// `message` with `Authorization: Bearer token`.
pub fn authed<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

impl Hub {
    /// Opens the chosen profile (`FIP_URL` and `FIP_TOKEN` override it).
    pub fn open(profile_name: Option<&str>) -> Result<Self, CliError> {
        let profiles = Profiles::load()?;
        let name = profiles.chosen(profile_name);
        let saved = profiles.profiles.get(&name).cloned();
        let env_url = std::env::var("FIP_URL").ok().filter(|u| !u.is_empty());
        let env_token = std::env::var("FIP_TOKEN").ok().filter(|t| !t.is_empty());
        let url = env_url
            .or_else(|| saved.as_ref().map(|p| p.url.clone()))
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        let auth = match (env_token, saved) {
            (Some(token), _) => Auth::Fixed(token),
            (None, Some(saved)) if saved.signed_in() => Auth::Profile(saved),
            _ => return Err(CliError::not_signed_in(&name)),
        };
        Ok(Self {
            channel: channel(&url)?,
            url,
            profile: name,
            auth,
        })
    }

    /// The channel to the gateway.
    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A valid access token, renewing the session first when it is about
    /// to expire.
    pub async fn token(&mut self) -> Result<String, CliError> {
        match &self.auth {
            Auth::Fixed(token) => Ok(token.clone()),
            Auth::Profile(saved) => {
                if saved.access_token.is_empty()
                    || saved.access_expires_at - now() < RENEW_BEFORE.as_secs() as i64
                {
                    self.refresh().await?;
                }
                match &self.auth {
                    Auth::Profile(saved) => Ok(saved.access_token.clone()),
                    Auth::Fixed(token) => Ok(token.clone()),
                }
            }
        }
    }

    /// Trades the refresh token for the next pair and saves it at once.
    pub async fn refresh(&mut self) -> Result<(), CliError> {
        let Auth::Profile(saved) = &self.auth else {
            return Err(CliError::refused(
                "the token in FIP_TOKEN has expired: set a fresh one, or unset it and run `fip login`",
            ));
        };
        let spent = saved.refresh_token.clone();
        // Another process may have renewed the session meanwhile: under the
        // lock, take the newest saved tokens, and renew only if they are
        // still the ones this process holds (or are about to expire).
        let _lock = profile::lock()?;
        let saved = match Profiles::load()?.profiles.remove(&self.profile) {
            Some(newer)
                if newer.refresh_token != spent
                    && newer.access_expires_at - now() >= RENEW_BEFORE.as_secs() as i64 =>
            {
                self.auth = Auth::Profile(newer);
                return Ok(());
            }
            Some(newer) if newer.signed_in() => newer,
            _ => return Err(CliError::not_signed_in(&self.profile)),
        };
        let saved = &saved;
        if saved.refresh_token.is_empty() {
            return Err(CliError::not_signed_in(&self.profile));
        }
        let answer = user::user_service_client::UserServiceClient::new(self.channel())
            .refresh_session(user::RefreshSessionRequest {
                refresh_token: saved.refresh_token.clone(),
            })
            .await;
        match answer {
            Ok(reply) => {
                let reply = reply.into_inner();
                let next = Profile {
                    url: saved.url.clone(),
                    username: saved.username.clone(),
                    access_token: reply.access_token,
                    access_expires_at: now() + reply.expires_in,
                    refresh_token: reply.refresh_token,
                };
                profile::store(&self.profile, next.clone())?;
                self.auth = Auth::Profile(next);
                Ok(())
            }
            Err(status) => {
                let ended = status.code() == tonic::Code::Unauthenticated;
                if ended {
                    // The session is over: forget its tokens.
                    let mut forgotten = saved.clone();
                    forgotten.access_token.clear();
                    forgotten.refresh_token.clear();
                    profile::store(&self.profile, forgotten.clone())?;
                    self.auth = Auth::Profile(forgotten);
                }
                Err(explain(&status, None, &self.profile))
            }
        }
    }

    /// Runs one call with a valid token; on `TOKEN_EXPIRED` renews the
    /// session and runs it once more. Errors come back as advice.
    pub async fn call<T, F, Fut>(&mut self, mut call: F) -> Result<T, CliError>
    where
        F: FnMut(Channel, String) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let token = self.token().await?;
        let status = match call(self.channel(), token).await {
            Ok(value) => return Ok(value),
            Err(status) => status,
        };
        let status = if is_expired(&status) && matches!(self.auth, Auth::Profile(_)) {
            self.refresh().await?;
            let token = self.token().await?;
            match call(self.channel(), token).await {
                Ok(value) => return Ok(value),
                Err(status) => status,
            }
        } else {
            status
        };
        Err(self.explain(&status).await)
    }

    /// Advice for a failed call, naming the service an error points at.
    pub async fn explain(&mut self, status: &Status) -> CliError {
        let service = match ApiError::from_status(status).and_then(|api| {
            api.metadata
                .get("service_id")
                .and_then(|id| id.parse().ok())
        }) {
            Some(id) => self.service_named(id).await,
            None => None,
        };
        explain(status, service.as_ref(), &self.profile)
    }

    async fn service_named(&mut self, id: i64) -> Option<Named> {
        let token = self.token().await.ok()?;
        let service = registry::registry_service_client::RegistryServiceClient::new(self.channel())
            .get_service(authed(registry::GetServiceRequest { id }, &token))
            .await
            .ok()?
            .into_inner()
            .service?;
        Some(Named {
            name: service.name,
            slug: service.slug,
        })
    }

    /// Signs out on the hub and forgets the tokens.
    pub async fn logout(mut self) -> Result<(), CliError> {
        let answer = self
            .call(|channel, token| async move {
                user::user_service_client::UserServiceClient::new(channel)
                    .logout(authed(user::LogoutRequest::default(), &token))
                    .await
            })
            .await;
        if let Auth::Profile(saved) = &self.auth {
            let mut forgotten = saved.clone();
            forgotten.access_token.clear();
            forgotten.refresh_token.clear();
            profile::store(&self.profile, forgotten)?;
        }
        match answer {
            Ok(_) => Ok(()),
            // Already over on the hub: forgetting the tokens is all there is to do.
            Err(error) if error.reason() == Some(ErrorReason::SessionEnded) => Ok(()),
            Err(error) => Err(error),
        }
    }
}

/// True when the access token expired (renewable).
pub fn is_expired(status: &Status) -> bool {
    status.code() == tonic::Code::Unauthenticated
        && ApiError::from_status(status).is_some_and(|api| api.reason == ErrorReason::TokenExpired)
}
