//! The per-user vault of credentials for external imputation servers:
//! write-only secrets sealed at rest, "Test connection", and the internal
//! lookup that hands a secret to the jobs service.

use std::sync::Arc;
use std::time::Instant;

use fip_backends::{ApiType, BackendError, Backends, Secret};
use fip_kit::Violations;
use fip_kit::db::now_millis;
use fip_kit::events::{Bus, CredentialChanged};

use crate::audit::{Caller, Event, action, outcome};
use crate::catalog::{Catalog, ServiceInfo};
use crate::error::{UserError, check};
use crate::store::{CredentialKind, CredentialRecord, CredentialWrite, Store, VerificationOutcome};
use crate::vault::{self, KeyRing, SecretParts, mask};

/// Longest accepted token or password.
const MAX_SECRET: usize = 8192;
/// Minimum time between two "Test connection" calls for one credential.
const VERIFY_INTERVAL_MS: i64 = 10_000;

/// A credential as the user submits it.
#[derive(Debug, Clone, Default)]
pub struct CredentialInput {
    pub service_id: i64,
    pub kind: Option<CredentialKind>,
    pub api_token: String,
    pub username: String,
    pub password: String,
    pub oauth_token: String,
    pub refresh_token: String,
    pub token_expires_at: Option<i64>,
    pub label: String,
    pub is_active: Option<bool>,
}

/// How a job's use of a credential went.
#[derive(Debug, Clone, Default)]
pub struct UseReport {
    pub user_id: i64,
    pub credential_id: i64,
    pub service_id: i64,
    /// The server's message when it refused the credential.
    pub rejection: Option<String>,
    pub used_at: Option<i64>,
    pub job_id: String,
}

/// The outcome of a "Test connection".
#[derive(Debug, Clone)]
pub struct VerifyResult {
    pub credential: CredentialRecord,
    pub valid: bool,
    pub message: String,
    pub remote_username: String,
    pub remote_expires_at: Option<i64>,
    pub checked_at: i64,
    pub response_time_ms: i32,
}

pub struct Credentials {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    catalog: Arc<dyn Catalog>,
    backends: Backends,
    bus: Bus,
}

fn not_found_credential(service_id: i64) -> UserError {
    UserError::NotFound {
        resource_type: "service_credential",
        id: service_id.to_string(),
    }
}

fn not_found_service(service_id: i64) -> UserError {
    UserError::NotFound {
        resource_type: "imputation_service",
        id: service_id.to_string(),
    }
}

/// The kind a submission means: the explicit one, else inferred from the
/// secret fields given.
fn kind_of(input: &CredentialInput) -> Option<CredentialKind> {
    let inferred = if !input.api_token.is_empty() {
        Some(CredentialKind::ApiToken)
    } else if !input.oauth_token.is_empty() {
        Some(CredentialKind::OAuth2)
    } else if !input.username.is_empty() || !input.password.is_empty() {
        Some(CredentialKind::BasicAuth)
    } else {
        None
    };
    input.kind.or(inferred)
}

fn secret_field(v: &mut Violations, field: &str, value: &str, required: bool) {
    if required && value.trim().is_empty() {
        v.add(field, "is required for this credential type");
    } else if value.chars().count() > MAX_SECRET {
        v.add(field, format!("must be at most {MAX_SECRET} characters"));
    } else if value.chars().any(char::is_control) {
        v.add(field, "must not contain control characters");
    }
}

fn unexpected(v: &mut Violations, field: &str, value: &str) {
    if !value.is_empty() {
        v.add(field, "does not belong to this credential type");
    }
}

/// Which credential kinds an API family takes.
fn accepts(api: ApiType, kind: CredentialKind) -> bool {
    match api {
        ApiType::Michigan => kind == CredentialKind::ApiToken,
        ApiType::Ga4ghWes => true,
    }
}

fn secret_of(kind: CredentialKind, parts: &SecretParts) -> Secret {
    match kind {
        CredentialKind::ApiToken => Secret::ApiToken(parts.api_token.clone()),
        CredentialKind::BasicAuth => Secret::Basic {
            username: parts.username.clone(),
            password: parts.password.clone(),
        },
        CredentialKind::OAuth2 => Secret::OAuth2 {
            access_token: parts.access_token.clone(),
        },
    }
}

impl Credentials {
    /// Credentials kept in `store`; changes are announced on `bus` (the
    /// jobs worker remembers the credentials it used).
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        catalog: Arc<dyn Catalog>,
        backends: Backends,
        bus: Bus,
    ) -> Self {
        Self {
            store,
            keys,
            catalog,
            backends,
            bus,
        }
    }

    async fn announce(&self, user_id: i64, service_id: i64) {
        CredentialChanged {
            user_id,
            service_id,
        }
        .publish(&self.bus)
        .await;
    }

    async fn service(&self, service_id: i64) -> Result<ServiceInfo, UserError> {
        self.catalog
            .service(service_id)
            .await
            .map_err(|e| UserError::UpstreamFailed {
                message: "the service registry did not answer".into(),
                upstream: format!("registry: {e}"),
            })?
            .ok_or_else(|| not_found_service(service_id))
    }

    /// Creates or replaces the caller's credential for a service.
    pub async fn put(
        &self,
        caller: &Caller,
        user_id: i64,
        input: CredentialInput,
    ) -> Result<CredentialRecord, UserError> {
        let mut v = Violations::new();
        v.id("service_id", input.service_id);
        v.max_len("label", &input.label, 200);
        let kind = kind_of(&input);
        match kind {
            None => v.add("api_token", "is required"),
            Some(CredentialKind::ApiToken) => {
                secret_field(&mut v, "api_token", &input.api_token, true);
                for (f, value) in [
                    ("username", &input.username),
                    ("password", &input.password),
                    ("oauth_token", &input.oauth_token),
                    ("refresh_token", &input.refresh_token),
                ] {
                    unexpected(&mut v, f, value);
                }
            }
            Some(CredentialKind::BasicAuth) => {
                secret_field(&mut v, "username", &input.username, true);
                v.max_len("username", &input.username, 256);
                secret_field(&mut v, "password", &input.password, true);
                for (f, value) in [
                    ("api_token", &input.api_token),
                    ("oauth_token", &input.oauth_token),
                    ("refresh_token", &input.refresh_token),
                ] {
                    unexpected(&mut v, f, value);
                }
            }
            Some(CredentialKind::OAuth2) => {
                secret_field(&mut v, "oauth_token", &input.oauth_token, true);
                secret_field(&mut v, "refresh_token", &input.refresh_token, false);
                for (f, value) in [
                    ("api_token", &input.api_token),
                    ("username", &input.username),
                    ("password", &input.password),
                ] {
                    unexpected(&mut v, f, value);
                }
            }
        }
        check(v)?;
        let kind = kind.expect("checked above");
        let service = self.service(input.service_id).await?;
        if !accepts(service.api_type, kind) {
            return Err(UserError::Validation(vec![(
                "credential_type".into(),
                format!(
                    "{} takes API tokens only ({} servers)",
                    service.name,
                    service.api_type.as_str()
                ),
            )]));
        }
        let parts = SecretParts {
            api_token: input.api_token.trim().to_string(),
            username: input.username.clone(),
            password: input.password.clone(),
            access_token: input.oauth_token.trim().to_string(),
            refresh_token: input.refresh_token.trim().to_string(),
        };
        let masked = match kind {
            CredentialKind::ApiToken => mask(&parts.api_token),
            CredentialKind::OAuth2 => mask(&parts.access_token),
            CredentialKind::BasicAuth => mask(&parts.password),
        };
        let sealed = vault::seal(&self.keys, user_id, input.service_id, &parts);
        let (record, replaced) = self
            .store
            .put_credential(CredentialWrite {
                user_id,
                service_id: input.service_id,
                kind,
                label: input.label.trim().to_string(),
                is_active: input.is_active.unwrap_or(true),
                expires_at: input.token_expires_at,
                masked_token: masked,
                has_api_token: kind == CredentialKind::ApiToken,
                has_basic_auth: kind == CredentialKind::BasicAuth,
                has_oauth_token: kind == CredentialKind::OAuth2,
                sealed,
                at: now_millis(),
            })
            .await?;
        let what = if replaced {
            action::CREDENTIAL_REPLACED
        } else {
            action::CREDENTIAL_CREATED
        };
        self.announce(user_id, input.service_id).await;
        Event::new(caller, what, outcome::SUCCESS)
            .about(user_id)
            .resource("service_credential", record.id)
            .service(input.service_id)
            .record(self.store.as_ref())
            .await?;
        Ok(record)
    }

    pub async fn list(&self, user_id: i64) -> Result<Vec<CredentialRecord>, UserError> {
        Ok(self.store.list_credentials(user_id).await?)
    }

    pub async fn get(&self, user_id: i64, service_id: i64) -> Result<CredentialRecord, UserError> {
        self.store
            .credential(user_id, service_id)
            .await?
            .ok_or_else(|| not_found_credential(service_id))
    }

    pub async fn delete(
        &self,
        caller: &Caller,
        user_id: i64,
        service_id: i64,
    ) -> Result<(), UserError> {
        let existing = self.get(user_id, service_id).await?;
        if !self.store.delete_credential(user_id, service_id).await? {
            return Err(not_found_credential(service_id));
        }
        self.announce(user_id, service_id).await;
        Event::new(caller, action::CREDENTIAL_DELETED, outcome::SUCCESS)
            .about(user_id)
            .resource("service_credential", existing.id)
            .service(service_id)
            .record(self.store.as_ref())
            .await
    }

    fn open(&self, record: &CredentialRecord) -> Result<SecretParts, UserError> {
        vault::open(
            &self.keys,
            record.user_id,
            record.service_id,
            &record.sealed,
        )
        .map_err(|e| UserError::Internal(anyhow::anyhow!("credential {}: {e}", record.id)))
    }

    /// "Test connection": asks the server whether it accepts the credential
    /// and records the answer.
    pub async fn verify(
        &self,
        caller: &Caller,
        user_id: i64,
        service_id: i64,
    ) -> Result<VerifyResult, UserError> {
        let record = self.get(user_id, service_id).await?;
        let now = now_millis();
        if let Some(last) = record.last_verified_at
            && now - last < VERIFY_INTERVAL_MS
        {
            return Err(UserError::RateLimited {
                retry_after_seconds: (VERIFY_INTERVAL_MS - (now - last) + 999) / 1000,
            });
        }
        let service = self.service(service_id).await?;
        let secret = secret_of(record.kind, &self.open(&record)?);
        let backend = self.backends.for_api(service.api_type);
        let started = Instant::now();
        let answer = backend.verify_credential(&service.base_url, &secret).await;
        let response_time_ms = started.elapsed().as_millis().min(i32::MAX as u128) as i32;
        let verification = match answer {
            Ok(v) => v,
            Err(BackendError::Unauthorized { message }) => fip_backends::Verification {
                valid: false,
                message,
                username: None,
                display_name: None,
                email: None,
                expires_at: None,
            },
            Err(BackendError::Unavailable { message, .. }) => {
                return Err(UserError::ServiceUnavailable {
                    message: format!("{} is unavailable: {message}", service.name),
                    service_id,
                });
            }
            Err(other) => {
                return Err(UserError::UpstreamFailed {
                    message: format!("{} gave an unexpected answer", service.name),
                    upstream: other.to_string(),
                });
            }
        };
        let checked_at = now_millis();
        let remote_expires_at = verification
            .expires_at
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64);
        let remote_username = verification.username.clone().unwrap_or_default();
        let updated = self
            .store
            .record_verification(
                user_id,
                service_id,
                &VerificationOutcome {
                    is_verified: verification.valid,
                    verified_at: checked_at,
                    error: if verification.valid {
                        String::new()
                    } else {
                        verification.message.clone()
                    },
                    remote_username: remote_username.clone(),
                    expires_at: remote_expires_at,
                },
            )
            .await?
            .ok_or_else(|| not_found_credential(service_id))?;
        Event::new(
            caller,
            action::CREDENTIAL_VERIFIED,
            if verification.valid {
                outcome::SUCCESS
            } else {
                outcome::FAILURE
            },
        )
        .about(user_id)
        .resource("service_credential", updated.id)
        .service(service_id)
        .summary(verification.message.clone())
        .record(self.store.as_ref())
        .await?;
        Ok(VerifyResult {
            credential: updated,
            valid: verification.valid,
            message: verification.message,
            remote_username,
            remote_expires_at,
            checked_at,
            response_time_ms,
        })
    }

    /// The decrypted secret of a user's active credential, for the jobs
    /// service (the caller's identity is checked by the adapter). Audited.
    pub async fn lookup(
        &self,
        caller: &Caller,
        user_id: i64,
        service_id: i64,
        job_id: &str,
    ) -> Result<(CredentialRecord, SecretParts), UserError> {
        let mut v = Violations::new();
        v.id("user_id", user_id);
        v.id("service_id", service_id);
        v.max_len("job_id", job_id, 64);
        check(v)?;
        let record = match self.store.credential(user_id, service_id).await? {
            None => {
                return Err(UserError::CredentialsMissing {
                    service_id,
                    state: "absent",
                });
            }
            Some(r) if !r.is_active => {
                return Err(UserError::CredentialsMissing {
                    service_id,
                    state: "inactive",
                });
            }
            Some(r) => r,
        };
        if let Some(expiry) = record.expires_at
            && expiry <= now_millis()
        {
            return Err(UserError::CredentialsExpired {
                service_id,
                expired_at: fip_kit::db::rfc3339(expiry),
            });
        }
        let parts = self.open(&record)?;
        Event::new(caller, action::CREDENTIAL_ACCESSED, outcome::SUCCESS)
            .about(user_id)
            .resource("service_credential", record.id)
            .service(service_id)
            .job(job_id)
            .record(self.store.as_ref())
            .await?;
        Ok((record, parts))
    }

    /// Records how a job's use of a credential went.
    pub async fn report_use(&self, caller: &Caller, report: UseReport) -> Result<(), UserError> {
        let UseReport {
            user_id,
            credential_id,
            service_id,
            rejection,
            used_at,
            job_id,
        } = report;
        let rejection = rejection.as_deref();
        let job_id = job_id.as_str();
        let mut v = Violations::new();
        v.id("user_id", user_id);
        v.id("service_id", service_id);
        v.id("credential_id", credential_id);
        if let Some(message) = rejection {
            v.max_len("message", message, 2000);
        }
        check(v)?;
        let updated = self
            .store
            .record_use(
                credential_id,
                user_id,
                used_at.unwrap_or_else(now_millis),
                rejection,
            )
            .await?;
        if updated && let Some(message) = rejection {
            Event::new(caller, action::CREDENTIAL_REJECTED, outcome::FAILURE)
                .about(user_id)
                .resource("service_credential", credential_id)
                .service(service_id)
                .job(job_id)
                .summary(message)
                .reason("CREDENTIALS_REJECTED")
                .record(self.store.as_ref())
                .await?;
        }
        Ok(())
    }
}

/// Re-seals every credential not under the active key. Returns
/// (re-sealed, already current). Nothing is lost: a credential that does not
/// open stops the run before it is changed, and each row is replaced only if
/// it still holds what was read (a concurrent update wins).
pub async fn reseal_all(store: &dyn Store, keys: &KeyRing) -> Result<(usize, usize), UserError> {
    let active = keys.active_key_id();
    let mut resealed = 0;
    let mut current = 0;
    for (id, user_id, service_id, sealed) in store.all_sealed().await? {
        if sealed.key_id == active {
            current += 1;
            continue;
        }
        let parts = vault::open(keys, user_id, service_id, &sealed)
            .map_err(|e| UserError::Internal(anyhow::anyhow!("credential {id}: {e}")))?;
        let fresh = vault::seal(keys, user_id, service_id, &parts);
        if store.reseal(id, &sealed, &fresh).await? {
            resealed += 1;
        }
    }
    Ok((resealed, current))
}
