//! Identity: EdDSA (Ed25519) JWTs for users, short-lived service-identity
//! tokens for internal calls, and a tower layer that verifies either and puts
//! the [`Principal`] into the request's extensions.
//!
//! Two key pairs exist. The *user* key signs user tokens (`kid: user`,
//! `aud` = the configured audience); only the user service holds its private
//! half. The *service* key signs internal identity tokens (`kid: service`,
//! `aud: fip-internal`, `sub: service:<name>`); every service of a deployment
//! holds it, no user ever sees it. A token is checked against the key its
//! `kid` names, so neither kind can stand in for the other.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use fip_proto::common::v1::ErrorReason;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use tonic::Status;
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;

use crate::config::Config;
use crate::error::ApiError;
use crate::mesh::ServiceName;
use crate::sessions::Sessions;

/// `aud` of internal service-identity tokens.
pub const INTERNAL_AUDIENCE: &str = "fip-internal";
const USER_KID: &str = "user";
const SERVICE_KID: &str = "service";
const SERVICE_SUBJECT_PREFIX: &str = "service:";

/// A platform role. Stored and carried as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    ServiceAdmin,
    Researcher,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Admin,
        Role::ServiceAdmin,
        Role::Researcher,
        Role::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ServiceAdmin => "service_admin",
            Role::Researcher => "researcher",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The claims of every token the platform issues.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Role>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    /// The session a user token belongs to (empty in service tokens).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
}

/// A signed-in user, as their token describes them.
#[derive(Debug, Clone, PartialEq)]
pub struct UserPrincipal {
    pub id: i64,
    pub username: String,
    pub roles: Vec<Role>,
    /// The session the token belongs to: the token is good only while the
    /// session is live (see [`crate::sessions`]).
    pub session_id: String,
}

impl UserPrincipal {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Principal {
    User(UserPrincipal),
    Service(ServiceName),
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required: send `authorization: Bearer <token>`")]
    Missing,
    #[error("the token has expired: sign in again")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("the session has ended: sign in again")]
    SessionEnded,
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let reason = match error {
            AuthError::Missing => ErrorReason::TokenMissing,
            AuthError::Expired => ErrorReason::TokenExpired,
            AuthError::Invalid(_) => ErrorReason::TokenInvalid,
            AuthError::SessionEnded => ErrorReason::SessionEnded,
        };
        ApiError::unauthenticated(reason, error.to_string())
    }
}

impl From<AuthError> for Status {
    fn from(error: AuthError) -> Self {
        ApiError::from(error).into()
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// An Ed25519 key pair in the PEM forms `jsonwebtoken` reads.
#[derive(Clone)]
pub struct KeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

impl KeyPair {
    pub fn generate() -> Self {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        Self::from_signing_key(&key)
    }

    fn from_signing_key(key: &SigningKey) -> Self {
        let private_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .expect("an ed25519 key always encodes")
            .to_string();
        let public_pem = key
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("an ed25519 key always encodes");
        Self {
            private_pem,
            public_pem,
        }
    }

    /// Reads a PKCS#8 PEM private key and derives its public half.
    pub fn from_private_pem(pem: &str) -> anyhow::Result<Self> {
        let key = SigningKey::from_pkcs8_pem(pem)
            .map_err(|e| anyhow::anyhow!("not an Ed25519 PKCS#8 PEM private key: {e}"))?;
        Ok(Self::from_signing_key(&key))
    }

    /// Reads the key at `path`, creating it (mode 0600) when `generate` is set
    /// and the file does not exist.
    pub fn load_or_generate(path: &Path, generate: bool) -> anyhow::Result<Self> {
        match fs::read_to_string(path) {
            Ok(pem) => {
                Self::from_private_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && generate => {
                let pair = Self::generate();
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir)?;
                }
                write_private(path, &pair.private_pem)?;
                fs::write(path.with_extension("pub.pem"), &pair.public_pem)?;
                tracing::info!(path = %path.display(), "generated a new Ed25519 key");
                Ok(pair)
            }
            Err(e) => Err(anyhow::anyhow!("cannot read key {}: {e}", path.display())),
        }
    }
}

fn write_private(path: &Path, pem: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(pem.as_bytes())
}

/// The keys one process holds.
#[derive(Clone)]
pub struct Keys {
    /// Private user-token key: only where the user service runs.
    pub user_signing: Option<KeyPair>,
    pub user_public_pem: String,
    pub service: KeyPair,
}

impl Keys {
    /// Loads (or, on the embedded default, creates) the keys named by the
    /// configuration. `need_user_signing` is set where the user service runs.
    pub fn load(config: &Config, need_user_signing: bool) -> anyhow::Result<Self> {
        let auth = &config.auth;
        let dir = config.keys_dir();
        let generate = auth.generate_missing_keys;
        let signing_path = auth
            .signing_key_file
            .clone()
            .unwrap_or_else(|| dir.join("user-token.pem"));
        let service_path = auth
            .service_key_file
            .clone()
            .unwrap_or_else(|| dir.join("service-identity.pem"));
        let user_signing = if need_user_signing || signing_path.exists() {
            Some(KeyPair::load_or_generate(&signing_path, generate)?)
        } else {
            None
        };
        let user_public_pem = match (&user_signing, &auth.verifying_key_file) {
            (_, Some(path)) => read_pem(path)?,
            (Some(pair), None) => pair.public_pem.clone(),
            (None, None) => read_pem(&signing_path.with_extension("pub.pem"))?,
        };
        let service = KeyPair::load_or_generate(&service_path, generate)?;
        Ok(Self {
            user_signing,
            user_public_pem,
            service,
        })
    }

    /// Fresh keys that live only in memory (tests).
    pub fn ephemeral() -> Self {
        let user = KeyPair::generate();
        Self {
            user_public_pem: user.public_pem.clone(),
            user_signing: Some(user),
            service: KeyPair::generate(),
        }
    }
}

fn read_pem(path: &PathBuf) -> anyhow::Result<String> {
    fs::read_to_string(path).map_err(|e| anyhow::anyhow!("cannot read key {}: {e}", path.display()))
}

fn header(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    header
}

/// Issues user tokens (the user service).
#[derive(Clone)]
pub struct TokenIssuer {
    key: EncodingKey,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenIssuer {
    pub fn new(pair: &KeyPair, config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            key: EncodingKey::from_ed_pem(pair.private_pem.as_bytes())?,
            issuer: config.auth.issuer.clone(),
            audience: config.auth.audience.clone(),
            ttl: config.auth.token_ttl,
        })
    }

    /// Lifetime of the tokens this issuer signs.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Signs a token for `user` (and the session it names); returns it with
    /// its lifetime in seconds.
    pub fn issue(&self, user: &UserPrincipal) -> Result<(String, u64), ApiError> {
        let now = now_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id.to_string(),
            exp: now + self.ttl.as_secs(),
            iat: now,
            roles: user.roles.clone(),
            username: user.username.clone(),
            sid: user.session_id.clone(),
        };
        let token = jsonwebtoken::encode(&header(USER_KID), &claims, &self.key)
            .map_err(ApiError::internal)?;
        Ok((token, self.ttl.as_secs()))
    }
}

/// Signs tokens with the service key for one subject, reusing each until
/// half its lifetime has passed.
struct Minter {
    key: EncodingKey,
    issuer: String,
    subject: String,
    ttl: Duration,
    cached: Mutex<Option<(String, Instant)>>,
}

impl Minter {
    fn new(subject: String, keys: &Keys, config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            key: EncodingKey::from_ed_pem(keys.service.private_pem.as_bytes())?,
            issuer: config.auth.issuer.clone(),
            subject,
            ttl: config.auth.service_token_ttl,
            cached: Mutex::new(None),
        })
    }

    fn token(&self) -> String {
        let mut cached = self.cached.lock().expect("identity cache poisoned");
        if let Some((token, minted)) = cached.as_ref()
            && minted.elapsed() < self.ttl / 2
        {
            return token.clone();
        }
        let now = now_secs();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: INTERNAL_AUDIENCE.into(),
            sub: self.subject.clone(),
            exp: now + self.ttl.as_secs(),
            iat: now,
            roles: Vec::new(),
            username: String::new(),
            sid: String::new(),
        };
        let token = jsonwebtoken::encode(&header(SERVICE_KID), &claims, &self.key)
            .expect("signing with a loaded ed25519 key cannot fail");
        *cached = Some((token.clone(), Instant::now()));
        token
    }
}

/// Mints this process's service-identity tokens, reusing one until half its
/// lifetime has passed.
pub struct ServiceIdentity {
    name: ServiceName,
    minter: Minter,
}

impl ServiceIdentity {
    pub fn new(name: ServiceName, keys: &Keys, config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            name,
            minter: Minter::new(format!("{SERVICE_SUBJECT_PREFIX}{name}"), keys, config)?,
        })
    }

    pub fn name(&self) -> ServiceName {
        self.name
    }

    /// A valid token for this service.
    pub fn token(&self) -> String {
        self.minter.token()
    }

    /// An interceptor that adds this identity to outgoing calls.
    pub fn interceptor(self: &Arc<Self>) -> IdentityInterceptor {
        IdentityInterceptor(self.clone())
    }
}

/// What the gateway tells a service about the client behind a call. A
/// service believes these headers only when the call also carries the
/// gateway's [`EdgeIdentity`] in [`forwarded::EDGE`]; [`AuthLayer`] drops
/// them otherwise, so a caller on an internal port cannot pose as another
/// address (and escape a per-address throttle) or forge the audit trail.
pub mod forwarded {
    /// The gateway's edge identity token.
    pub const EDGE: &str = "x-fip-edge";
    /// The client's address, as the gateway's socket saw it.
    pub const CLIENT_ADDRESS: &str = "x-fip-client-address";
    /// The client's own `user-agent`.
    pub const CLIENT_USER_AGENT: &str = "x-fip-client-user-agent";
    /// Every header only the gateway may set.
    pub const ALL: [&str; 4] = [EDGE, CLIENT_ADDRESS, CLIENT_USER_AGENT, "x-forwarded-for"];
}

const EDGE_SUBJECT: &str = "edge:gateway";

/// The gateway's identity towards the services, vouching for the client
/// address and user agent it forwards.
pub struct EdgeIdentity {
    minter: Minter,
}

impl EdgeIdentity {
    pub fn new(keys: &Keys, config: &Config) -> anyhow::Result<Self> {
        Ok(Self {
            minter: Minter::new(EDGE_SUBJECT.into(), keys, config)?,
        })
    }

    /// Replaces whatever the client sent in the [`forwarded`] headers with
    /// what the gateway saw: `client` and the request's own `user-agent`.
    pub fn stamp(&self, headers: &mut http::HeaderMap, client: Option<std::net::IpAddr>) {
        let user_agent = headers.get(http::header::USER_AGENT).cloned();
        for name in forwarded::ALL {
            headers.remove(name);
        }
        if let Ok(value) = http::HeaderValue::from_str(&self.minter.token()) {
            headers.insert(forwarded::EDGE, value);
        }
        if let Some(ip) = client
            && let Ok(value) = http::HeaderValue::from_str(&ip.to_string())
        {
            headers.insert(forwarded::CLIENT_ADDRESS, value);
        }
        if let Some(value) = user_agent {
            headers.insert(forwarded::CLIENT_USER_AGENT, value);
        }
    }
}

/// Adds `authorization: Bearer <service token>` to each outgoing call.
#[derive(Clone)]
pub struct IdentityInterceptor(Arc<ServiceIdentity>);

impl Interceptor for IdentityInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        let value = MetadataValue::try_from(format!("Bearer {}", self.0.token()))
            .map_err(|_| Status::internal("service token is not a valid header"))?;
        request.metadata_mut().insert("authorization", value);
        Ok(request)
    }
}

/// Verifies user and service tokens.
#[derive(Clone)]
pub struct TokenVerifier {
    user_key: DecodingKey,
    service_key: DecodingKey,
    user_validation: Validation,
    service_validation: Validation,
}

impl TokenVerifier {
    pub fn new(keys: &Keys, config: &Config) -> anyhow::Result<Self> {
        let mut user_validation = Validation::new(Algorithm::EdDSA);
        user_validation.set_audience(&[&config.auth.audience]);
        user_validation.set_issuer(&[&config.auth.issuer]);
        user_validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Explicit and small (the library's default is 60 s): an expired
        // token is refused within this much of its `exp`.
        user_validation.leeway = config.auth.clock_leeway.as_secs();
        let mut service_validation = user_validation.clone();
        service_validation.set_audience(&[INTERNAL_AUDIENCE]);
        Ok(Self {
            user_key: DecodingKey::from_ed_pem(keys.user_public_pem.as_bytes())?,
            service_key: DecodingKey::from_ed_pem(keys.service.public_pem.as_bytes())?,
            user_validation,
            service_validation,
        })
    }

    /// Checks signature, algorithm, expiry, issuer and audience, and returns
    /// who the token speaks for.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| map_jwt_error(&e))?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::Invalid("unsupported algorithm".into()));
        }
        match header.kid.as_deref() {
            Some(USER_KID) => {
                let data =
                    jsonwebtoken::decode::<Claims>(token, &self.user_key, &self.user_validation)
                        .map_err(|e| map_jwt_error(&e))?;
                let claims = data.claims;
                let id = claims
                    .sub
                    .parse::<i64>()
                    .map_err(|_| AuthError::Invalid("bad subject".into()))?;
                if claims.sid.is_empty() {
                    return Err(AuthError::Invalid("missing sid".into()));
                }
                Ok(Principal::User(UserPrincipal {
                    id,
                    username: claims.username,
                    roles: claims.roles,
                    session_id: claims.sid,
                }))
            }
            Some(SERVICE_KID) => {
                let data = jsonwebtoken::decode::<Claims>(
                    token,
                    &self.service_key,
                    &self.service_validation,
                )
                .map_err(|e| map_jwt_error(&e))?;
                let name = data
                    .claims
                    .sub
                    .strip_prefix(SERVICE_SUBJECT_PREFIX)
                    .and_then(|n| n.parse::<ServiceName>().ok())
                    .ok_or_else(|| AuthError::Invalid("bad subject".into()))?;
                Ok(Principal::Service(name))
            }
            _ => Err(AuthError::Invalid("unknown key id".into())),
        }
    }

    /// Whether `token` is the gateway's edge identity (signed with the
    /// service key, subject `edge:gateway`).
    pub fn verify_edge(&self, token: &str) -> bool {
        let Ok(header) = jsonwebtoken::decode_header(token) else {
            return false;
        };
        header.alg == Algorithm::EdDSA
            && header.kid.as_deref() == Some(SERVICE_KID)
            && jsonwebtoken::decode::<Claims>(token, &self.service_key, &self.service_validation)
                .is_ok_and(|data| data.claims.sub == EDGE_SUBJECT)
    }
}

fn map_jwt_error(error: &jsonwebtoken::errors::Error) -> AuthError {
    match error.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::InvalidAudience => AuthError::Invalid("wrong audience".into()),
        ErrorKind::InvalidIssuer => AuthError::Invalid("wrong issuer".into()),
        ErrorKind::InvalidSignature => AuthError::Invalid("bad signature".into()),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::Invalid("unsupported algorithm".into())
        }
        ErrorKind::MissingRequiredClaim(claim) => AuthError::Invalid(format!("missing {claim}")),
        _ => AuthError::Invalid("malformed token".into()),
    }
}

/// The bearer token of a request, if any.
pub fn bearer_token(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The caller of a request, as [`AuthLayer`] found it.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, ApiError> {
    request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| AuthError::Missing.into())
}

/// The signed-in user of a request; service identities are refused.
pub fn require_user<T>(request: &tonic::Request<T>) -> Result<&UserPrincipal, ApiError> {
    match principal(request)? {
        Principal::User(user) => Ok(user),
        Principal::Service(_) => Err(ApiError::permission_denied(
            "this call needs a signed-in user",
        )),
    }
}

/// A user holding `role` (or an admin).
pub fn require_role<T>(
    request: &tonic::Request<T>,
    role: Role,
) -> Result<&UserPrincipal, ApiError> {
    let user = require_user(request)?;
    if user.has_role(role) || user.is_admin() {
        Ok(user)
    } else {
        Err(ApiError::permission_denied(format!(
            "this call needs the {} role",
            role.as_str()
        )))
    }
}

/// Only the internal identity of `service` may call.
pub fn require_service<T>(
    request: &tonic::Request<T>,
    service: ServiceName,
) -> Result<(), ApiError> {
    match principal(request)? {
        Principal::Service(name) if *name == service => Ok(()),
        _ => Err(ApiError::permission_denied("this call is internal")),
    }
}

/// Tokens whose signature already checked out, until they expire: a
/// client sends the same token with every call, and verifying an Ed25519
/// signature each time would cost more than the rest of a small call.
/// Bounded; emptied when full.
#[derive(Default)]
pub struct Verified {
    tokens: Mutex<HashMap<String, (Principal, u64)>>,
}

/// Tokens remembered at most.
const VERIFIED_CAPACITY: usize = 10_000;

impl Verified {
    /// Verifies `token`, from memory when it was verified before and has
    /// not expired since.
    pub fn verify(&self, verifier: &TokenVerifier, token: &str) -> Result<Principal, AuthError> {
        let now = now_secs();
        if let Some((principal, exp)) = self.lock().get(token)
            && *exp > now
        {
            return Ok(principal.clone());
        }
        let principal = verifier.verify(token)?;
        if let Some(exp) = expiry(token) {
            let mut tokens = self.lock();
            if tokens.len() >= VERIFIED_CAPACITY {
                tokens.clear();
            }
            tokens.insert(token.to_string(), (principal.clone(), exp));
        }
        Ok(principal)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Principal, u64)>> {
        self.tokens.lock().expect("verified tokens poisoned")
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The `exp` claim of a token whose signature was just verified.
fn expiry(token: &str) -> Option<u64> {
    use base64::Engine;
    #[derive(Deserialize)]
    struct Exp {
        exp: u64,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Exp>(&bytes).ok().map(|e| e.exp)
}

/// Who a bearer token speaks for: its signature and claims checked (and
/// remembered), and, for a user token, its session live.
#[derive(Clone)]
pub struct Authenticator {
    verifier: Arc<TokenVerifier>,
    verified: Arc<Verified>,
    sessions: Arc<Sessions>,
    edge: Arc<Mutex<Option<(String, Instant)>>>,
}

/// How long a verified edge token is taken on trust again without a new
/// signature check (the gateway reuses one for minutes).
const EDGE_MEMORY: Duration = Duration::from_secs(30);

impl Authenticator {
    pub fn new(verifier: Arc<TokenVerifier>, sessions: Arc<Sessions>) -> Self {
        Self {
            verifier,
            verified: Arc::new(Verified::default()),
            sessions,
            edge: Arc::default(),
        }
    }

    /// The same checks over another session source (the user service
    /// answers session checks from its own store).
    pub fn with_sessions(&self, sessions: Arc<Sessions>) -> Self {
        Self {
            sessions,
            ..self.clone()
        }
    }

    pub fn verifier(&self) -> &Arc<TokenVerifier> {
        &self.verifier
    }

    pub fn sessions(&self) -> &Arc<Sessions> {
        &self.sessions
    }

    /// Verifies `token`; a user token's session must be live.
    pub async fn authenticate(&self, token: &str) -> Result<Principal, ApiError> {
        let principal = self.verified.verify(&self.verifier, token)?;
        if let Principal::User(user) = &principal {
            self.sessions.check(user).await?;
        }
        Ok(principal)
    }

    /// Whether `token` is the gateway's edge identity.
    pub fn is_edge(&self, token: &str) -> bool {
        let mut last = self.edge.lock().expect("edge memory poisoned");
        if let Some((known, at)) = last.as_ref()
            && known == token
            && at.elapsed() < EDGE_MEMORY
        {
            return true;
        }
        let valid = self.verifier.verify_edge(token);
        if valid {
            *last = Some((token.to_string(), Instant::now()));
        }
        valid
    }
}

/// A tower layer that authenticates bearer tokens on every request.
///
/// A request without a token passes through with no principal (handlers of
/// public calls such as login accept that; others refuse it with
/// TOKEN_MISSING); a request with a bad token, or a user token whose
/// session has ended, is answered UNAUTHENTICATED here. The [`forwarded`]
/// headers are dropped unless the gateway's edge identity vouches for them.
#[derive(Clone)]
pub struct AuthLayer {
    auth: Authenticator,
}

impl AuthLayer {
    pub fn new(auth: Authenticator) -> Self {
        Self { auth }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Authenticator,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let vouched = request
            .headers()
            .get(forwarded::EDGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| self.auth.is_edge(t));
        if !vouched {
            for name in forwarded::ALL {
                request.headers_mut().remove(name);
            }
        }
        // The service that was polled ready serves this call; a clone
        // takes its place for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(token) = bearer_token(request.headers()).map(str::to_string) else {
            return Box::pin(inner.call(request));
        };
        let auth = self.auth.clone();
        Box::pin(async move {
            match auth.authenticate(&token).await {
                Ok(principal) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Err(error) => Ok(Status::from(error).into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (Config, Keys, TokenIssuer, TokenVerifier) {
        let config = Config::default();
        let keys = Keys::ephemeral();
        let issuer = TokenIssuer::new(keys.user_signing.as_ref().unwrap(), &config).unwrap();
        let verifier = TokenVerifier::new(&keys, &config).unwrap();
        (config, keys, issuer, verifier)
    }

    fn alice() -> UserPrincipal {
        UserPrincipal {
            id: 7,
            username: "alice".into(),
            roles: vec![Role::Researcher],
            session_id: "0190c6a4-session".into(),
        }
    }

    fn sign(claims: &Claims, pair: &KeyPair, kid: &str) -> String {
        let key = EncodingKey::from_ed_pem(pair.private_pem.as_bytes()).unwrap();
        jsonwebtoken::encode(&header(kid), claims, &key).unwrap()
    }

    fn claims_for(config: &Config, exp: u64) -> Claims {
        Claims {
            iss: config.auth.issuer.clone(),
            aud: config.auth.audience.clone(),
            sub: "7".into(),
            exp,
            iat: now_secs(),
            roles: vec![Role::Admin],
            username: "alice".into(),
            sid: "0190c6a4-session".into(),
        }
    }

    #[test]
    fn valid_user_token_is_accepted() {
        let (_, _, issuer, verifier) = setup();
        let (token, expires_in) = issuer.issue(&alice()).unwrap();
        assert_eq!(expires_in, 15 * 60);
        assert_eq!(verifier.verify(&token), Ok(Principal::User(alice())));
    }

    #[test]
    fn a_user_token_without_a_session_is_refused() {
        let (config, keys, _, verifier) = setup();
        let mut claims = claims_for(&config, now_secs() + 600);
        claims.sid = String::new();
        let token = sign(&claims, keys.user_signing.as_ref().unwrap(), USER_KID);
        assert_eq!(
            verifier.verify(&token),
            Err(AuthError::Invalid("missing sid".into()))
        );
    }

    #[test]
    fn expiry_leeway_is_the_configured_few_seconds() {
        let (config, keys, _, verifier) = setup();
        assert_eq!(config.auth.clock_leeway, Duration::from_secs(5));
        let pair = keys.user_signing.as_ref().unwrap();
        let within = sign(&claims_for(&config, now_secs() - 2), pair, USER_KID);
        assert!(verifier.verify(&within).is_ok());
        // The library's default leeway would take this one (60 s).
        let past = sign(&claims_for(&config, now_secs() - 20), pair, USER_KID);
        assert_eq!(verifier.verify(&past), Err(AuthError::Expired));
    }

    #[test]
    fn the_edge_identity_is_neither_a_service_nor_a_user() {
        let (config, keys, issuer, verifier) = setup();
        let edge = EdgeIdentity::new(&keys, &config).unwrap();
        let mut headers = http::HeaderMap::new();
        headers.insert(forwarded::CLIENT_ADDRESS, "6.6.6.6".parse().unwrap());
        headers.insert("x-forwarded-for", "6.6.6.6".parse().unwrap());
        headers.insert("user-agent", "curl/8".parse().unwrap());
        edge.stamp(&mut headers, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(headers[forwarded::CLIENT_ADDRESS], "10.1.2.3");
        assert_eq!(headers[forwarded::CLIENT_USER_AGENT], "curl/8");
        assert!(headers.get("x-forwarded-for").is_none());
        let token = headers[forwarded::EDGE].to_str().unwrap();
        assert!(verifier.verify_edge(token));
        assert!(matches!(verifier.verify(token), Err(AuthError::Invalid(_))));
        let service = ServiceIdentity::new(ServiceName::Jobs, &keys, &config).unwrap();
        assert!(!verifier.verify_edge(&service.token()));
        let (user, _) = issuer.issue(&alice()).unwrap();
        assert!(!verifier.verify_edge(&user));
    }

    #[test]
    fn verified_tokens_are_remembered_and_forged_ones_refused() {
        let (_, _, issuer, verifier) = setup();
        let (token, _) = issuer.issue(&alice()).unwrap();
        let verified = Verified::default();
        assert_eq!(
            verified.verify(&verifier, &token),
            Ok(Principal::User(alice()))
        );
        assert_eq!(verified.len(), 1);
        assert_eq!(
            verified.verify(&verifier, &token),
            Ok(Principal::User(alice()))
        );
        assert!(expiry(&token).unwrap() > now_secs());
        // A token differing in its signature is checked, not remembered.
        let forged = format!("{}x", &token[..token.len() - 1]);
        assert!(verified.verify(&verifier, &forged).is_err());
        assert_eq!(verified.len(), 1);
    }

    #[test]
    fn expired_token_is_refused_as_expired() {
        let (config, keys, _, verifier) = setup();
        let token = sign(
            &claims_for(&config, now_secs() - 3600),
            keys.user_signing.as_ref().unwrap(),
            USER_KID,
        );
        assert_eq!(verifier.verify(&token), Err(AuthError::Expired));
    }

    #[test]
    fn token_from_another_key_is_refused() {
        let (config, _, _, verifier) = setup();
        let stranger = KeyPair::generate();
        let token = sign(&claims_for(&config, now_secs() + 600), &stranger, USER_KID);
        assert_eq!(
            verifier.verify(&token),
            Err(AuthError::Invalid("bad signature".into()))
        );
    }

    #[test]
    fn alg_none_is_refused() {
        let (config, _, _, verifier) = setup();
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"none","typ":"JWT","kid":"user"}"#);
        let payload = b64.encode(
            serde_json::to_string(&claims_for(&config, now_secs() + 600))
                .unwrap()
                .as_bytes(),
        );
        for token in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert!(matches!(
                verifier.verify(&token),
                Err(AuthError::Invalid(_))
            ));
        }
    }

    #[test]
    fn wrong_audience_is_refused() {
        let (config, keys, _, verifier) = setup();
        let mut claims = claims_for(&config, now_secs() + 600);
        claims.aud = "someone-else".into();
        let token = sign(&claims, keys.user_signing.as_ref().unwrap(), USER_KID);
        assert_eq!(
            verifier.verify(&token),
            Err(AuthError::Invalid("wrong audience".into()))
        );
    }

    #[test]
    fn user_token_cannot_pose_as_a_service() {
        let (config, keys, _, verifier) = setup();
        // Signed by the user key but labelled as a service token: the
        // service key does not verify it.
        let mut claims = claims_for(&config, now_secs() + 600);
        claims.aud = INTERNAL_AUDIENCE.into();
        claims.sub = "service:jobs".into();
        let token = sign(&claims, keys.user_signing.as_ref().unwrap(), SERVICE_KID);
        assert!(verifier.verify(&token).is_err());
        // And a user-audience token under the service key is refused too.
        let token = sign(
            &claims_for(&config, now_secs() + 600),
            &keys.service,
            SERVICE_KID,
        );
        assert_eq!(
            verifier.verify(&token),
            Err(AuthError::Invalid("wrong audience".into()))
        );
    }

    #[test]
    fn service_identity_round_trips_and_is_cached() {
        let (config, keys, _, verifier) = setup();
        let identity = ServiceIdentity::new(ServiceName::Jobs, &keys, &config).unwrap();
        let token = identity.token();
        assert_eq!(token, identity.token());
        assert_eq!(
            verifier.verify(&token),
            Ok(Principal::Service(ServiceName::Jobs))
        );
    }

    #[test]
    fn garbage_is_malformed() {
        let (_, _, _, verifier) = setup();
        assert!(matches!(verifier.verify("abc"), Err(AuthError::Invalid(_))));
    }

    #[test]
    fn bearer_header_parsing() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert("authorization", "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("abc"));
        headers.insert("authorization", "bearer  xyz ".parse().unwrap());
        assert_eq!(bearer_token(&headers), Some("xyz"));
        headers.insert("authorization", "Basic abc".parse().unwrap());
        assert_eq!(bearer_token(&headers), None);
    }

    #[test]
    fn keys_are_created_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        config.auth.generate_missing_keys = true;
        let first = Keys::load(&config, true).unwrap();
        let again = Keys::load(&config, false).unwrap();
        assert_eq!(first.service.public_pem, again.service.public_pem);
        assert_eq!(first.user_public_pem, again.user_public_pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join("keys/user-token.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The default refuses to start without its keys.
        let strict = Config {
            data_dir: tempfile::tempdir().unwrap().path().to_path_buf(),
            ..Config::default()
        };
        assert!(!strict.auth.generate_missing_keys);
        assert!(Keys::load(&strict, true).is_err());
    }
}
