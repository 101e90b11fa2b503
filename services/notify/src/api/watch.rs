//! `NotificationService.WatchNotifications`: the caller's inbox changes as
//! a server stream, until the client leaves, the service stops, the
//! caller's token expires (then UNAUTHENTICATED `TOKEN_EXPIRED`) or its
//! session ends (UNAUTHENTICATED `SESSION_ENDED`).

use std::pin::Pin;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fip_kit::auth;
use fip_kit::db::rfc3339;
use fip_proto::notify::v1 as pb;
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::NotifyApi;
use super::convert::event_to_wire;
use crate::error::NotifyError;

/// The response stream of `WatchNotifications`.
pub type WatchStream =
    Pin<Box<dyn Stream<Item = Result<pb::WatchNotificationsResponse, Status>> + Send>>;

/// The `exp` (seconds since the epoch) of the request's bearer token. The
/// auth layer has verified the token already; this only reads the claim.
fn token_expiry<T>(request: &Request<T>) -> Option<u64> {
    let value = request.metadata().get("authorization")?.to_str().ok()?;
    let (_, token) = value.split_once(' ')?;
    let payload = token.trim().split('.').nth(1)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims.get("exp")?.as_u64()
}

fn expired(exp: u64) -> Status {
    let millis = i64::try_from(exp.saturating_mul(1000)).unwrap_or(i64::MAX);
    NotifyError::TokenExpired {
        expired_at: rfc3339(millis),
    }
    .into()
}

impl NotifyApi {
    pub(super) async fn watch(
        &self,
        request: Request<pb::WatchNotificationsRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let user = auth::require_user(&request)?.clone();
        let expiry = token_expiry(&request);
        let pb::WatchNotificationsRequest {} = request.into_inner();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        // The auth layer allows some clock leeway; the stream does not.
        if let Some(exp) = expiry
            && exp <= now
        {
            return Err(expired(exp));
        }
        let deadline =
            expiry.map(|exp| tokio::time::Instant::now() + Duration::from_secs(exp - now));
        let mut changes = self.notify.watch(user.id).await?;
        let sessions = self.sessions.clone();
        let stream = async_stream::stream! {
            let token_expires = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::pin!(token_expires);
            let session_ended = sessions.ended(&user);
            tokio::pin!(session_ended);
            loop {
                tokio::select! {
                    biased;
                    () = &mut token_expires => {
                        tracing::debug!(user_id = user.id, "watch ends: token expired");
                        yield Err(expired(expiry.unwrap_or(now)));
                        break;
                    }
                    () = &mut session_ended => {
                        tracing::debug!(user_id = user.id, "watch ends: session ended");
                        yield Err(Status::from(fip_kit::auth::AuthError::SessionEnded));
                        break;
                    }
                    change = changes.next() => match change {
                        Some(Ok(event)) => yield Ok(event_to_wire(event)),
                        Some(Err(error)) => {
                            yield Err(Status::from(error));
                            break;
                        }
                        None => break,
                    },
                }
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_read_from_the_bearer_token() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"7","exp":1700000000}"#);
        let mut request = Request::new(());
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer h.{payload}.s").parse().unwrap(),
        );
        assert_eq!(token_expiry(&request), Some(1_700_000_000));
        assert_eq!(token_expiry(&Request::new(())), None);
    }
}
