//! `POST /api/v2/tokens/verify`: Cloudgene's `ValidatedApiTokenResponse`
//! `{valid, message, username, name, mail, expire}`.
//!
//! The server answers 200 for a bad token too, with `valid: false`. `expire`
//! defaults to the time of the answer: Cloudgene 3 sets it from the token's
//! `exp` claim only for a valid token, older releases never. So it is read
//! only for a valid token and only when it lies ahead.

use serde::Deserialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, PrimitiveDateTime};

use crate::Verification;

/// How far ahead `expire` must lie to be taken for the token's expiry rather
/// than the server's clock.
const CLOCK_SLACK: Duration = Duration::minutes(1);

#[derive(Debug, Deserialize)]
pub(super) struct VerifyReply {
    valid: bool,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    mail: Option<String>,
    #[serde(default)]
    expire: Option<Value>,
}

pub(super) fn verification(reply: VerifyReply, now: OffsetDateTime) -> Verification {
    let non_empty = |text: Option<String>| {
        text.map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    };
    let message = non_empty(reply.message).unwrap_or_else(|| {
        if reply.valid {
            "the api token is valid".to_owned()
        } else {
            "the api token is invalid".to_owned()
        }
    });
    if !reply.valid {
        return Verification::invalid(message);
    }
    Verification {
        valid: true,
        message,
        username: non_empty(reply.username),
        display_name: non_empty(reply.name),
        email: non_empty(reply.mail),
        expires_at: reply
            .expire
            .as_ref()
            .and_then(parse_date)
            .filter(|expiry| *expiry > now + CLOCK_SLACK),
    }
}

/// A date as Cloudgene's JSON writers render a `java.util.Date`: epoch
/// milliseconds, ISO 8601 (`2025-12-16T22:40:29.866+00:00`, `…+0000`, `…Z`),
/// `2025-12-16 22:40:29` (UTC), or `Date.toString()` in UTC/GMT.
fn parse_date(value: &Value) -> Option<OffsetDateTime> {
    match value {
        Value::Number(number) => {
            let millis = i128::from(number.as_i64()?);
            OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()
        }
        Value::String(text) => parse_date_text(text.trim()),
        _ => None,
    }
}

fn parse_date_text(text: &str) -> Option<OffsetDateTime> {
    if let Ok(date) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(date);
    }
    // `+0000` → `+00:00`
    let bytes = text.as_bytes();
    if bytes.len() > 5 && matches!(bytes[bytes.len() - 5], b'+' | b'-') {
        let (head, offset) = text.split_at(text.len() - 2);
        if let Ok(date) = OffsetDateTime::parse(&format!("{head}:{offset}"), &Rfc3339) {
            return Some(date);
        }
    }
    let formats = [
        "[year]-[month]-[day] [hour]:[minute]:[second]",
        "[year]-[month]-[day]T[hour]:[minute]:[second]",
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] UTC [year]",
        "[weekday repr:short] [month repr:short] [day] [hour]:[minute]:[second] GMT [year]",
    ];
    formats.iter().find_map(|format| {
        let format = time::format_description::parse_borrowed::<2>(format).ok()?;
        PrimitiveDateTime::parse(text, &format)
            .ok()
            .map(PrimitiveDateTime::assume_utc)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn now() -> OffsetDateTime {
        // 2025-11-16T22:40:29Z
        OffsetDateTime::from_unix_timestamp(1_763_332_829).unwrap()
    }

    fn reply(value: Value) -> VerifyReply {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn valid_token_carries_the_account() {
        let verification = verification(
            reply(json!({
                "valid": true,
                "message": "API Token was created by alice and is valid.",
                "username": "alice",
                "name": "Alice Example",
                "mail": "alice@example.org",
                "expire": "2025-12-16T22:40:29.000+00:00"
            })),
            now(),
        );
        assert!(verification.valid);
        assert_eq!(
            verification.message,
            "API Token was created by alice and is valid."
        );
        assert_eq!(verification.username.as_deref(), Some("alice"));
        assert_eq!(verification.display_name.as_deref(), Some("Alice Example"));
        assert_eq!(verification.email.as_deref(), Some("alice@example.org"));
        assert_eq!(verification.expires_at, Some(now() + Duration::days(30)));
    }

    #[test]
    fn invalid_token_ignores_the_rest() {
        let verification = verification(
            reply(json!({
                "valid": false,
                "message": "Invalid API Token.",
                "username": null,
                "expire": 1_763_332_829_000_i64
            })),
            now(),
        );
        assert_eq!(verification, Verification::invalid("Invalid API Token."));
    }

    #[test]
    fn expire_of_now_is_not_an_expiry() {
        let verification = verification(
            reply(json!({"valid": true, "expire": 1_763_332_829_000_i64})),
            now(),
        );
        assert!(verification.valid);
        assert_eq!(verification.message, "the api token is valid");
        assert_eq!(verification.expires_at, None);
    }

    #[test]
    fn missing_valid_is_not_a_reply() {
        assert!(serde_json::from_value::<VerifyReply>(json!({"message": "x"})).is_err());
    }

    #[test]
    fn dates_in_every_rendering() {
        let expected = now();
        for value in [
            json!(1_763_332_829_000_i64),
            json!("2025-11-16T22:40:29Z"),
            json!("2025-11-16T22:40:29.000+00:00"),
            json!("2025-11-16T23:40:29.000+0100"),
            json!("2025-11-16 22:40:29"),
            json!("2025-11-16T22:40:29"),
            json!("Sun Nov 16 22:40:29 UTC 2025"),
        ] {
            assert_eq!(parse_date(&value), Some(expected), "{value}");
        }
        assert_eq!(parse_date(&json!("next week")), None);
        assert_eq!(parse_date(&json!(true)), None);
    }
}
