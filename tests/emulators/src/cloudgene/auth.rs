//! Who is calling: the `X-Auth-Token` header against the emulator's tokens,
//! with the outcomes of Micronaut security and Cloudgene's
//! `AuthenticationService`.

use axum::http::{HeaderMap, StatusCode};

use super::reply::Refusal;
use super::state::{State, TokenKind};

/// An authenticated caller.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub username: String,
    pub admin: bool,
}

/// Which tokens an endpoint accepts (`AuthenticationType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accepts {
    /// API and web tokens (`ALL_TOKENS`).
    AllTokens,
    /// Web-login tokens only (`ACCESS_TOKEN`, e.g. DELETE).
    AccessTokens,
}

/// How a token reads.
enum Reading {
    /// No header, an unknown string or an expired `exp`: not authenticated.
    Anonymous,
    /// A genuine token the server refuses for this call (revoked API token,
    /// API token where only web tokens go): `AuthorizationException`.
    Refused,
    Caller(Caller),
}

fn read(state: &State, headers: &HeaderMap, accepts: Accepts, now: i64) -> Reading {
    let Some(token) = headers
        .get("x-auth-token")
        .and_then(|value| value.to_str().ok())
    else {
        return Reading::Anonymous;
    };
    let Some(record) = state.tokens.get(token) else {
        return Reading::Anonymous;
    };
    if record.expires_at <= now {
        return Reading::Anonymous;
    }
    let Some(user) = state.users.get(&record.username) else {
        return Reading::Anonymous;
    };
    let allowed = match record.kind {
        TokenKind::Web => true,
        TokenKind::Api => accepts == Accepts::AllTokens && user.api_token.as_deref() == Some(token),
    };
    if !allowed {
        return Reading::Refused;
    }
    Reading::Caller(Caller {
        username: user.username.clone(),
        admin: user.admin,
    })
}

/// A secured endpoint: 401 without a live token, 403 for a refused one.
pub(crate) fn require(
    state: &State,
    headers: &HeaderMap,
    accepts: Accepts,
    now: i64,
) -> Result<Caller, Refusal> {
    match read(state, headers, accepts, now) {
        Reading::Anonymous => Err(Refusal::Bare(StatusCode::UNAUTHORIZED)),
        Reading::Refused => Err(Refusal::Bare(StatusCode::FORBIDDEN)),
        Reading::Caller(caller) => Ok(caller),
    }
}

/// An anonymous endpoint that looks at the caller when there is one: a
/// refused token is still 403.
pub(crate) fn optional(
    state: &State,
    headers: &HeaderMap,
    now: i64,
) -> Result<Option<Caller>, Refusal> {
    match read(state, headers, Accepts::AllTokens, now) {
        Reading::Anonymous => Ok(None),
        Reading::Refused => Err(Refusal::Bare(StatusCode::FORBIDDEN)),
        Reading::Caller(caller) => Ok(Some(caller)),
    }
}
