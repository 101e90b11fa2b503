//! AIP-158 pagination: page sizes and opaque page tokens over an id cursor.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger requested sizes are lowered to this.
pub const MAX_PAGE_SIZE: i64 = 500;

/// The effective page size (negative sizes are refused before this).
pub fn page_size(requested: i32) -> i64 {
    match requested {
        n if n <= 0 => DEFAULT_PAGE_SIZE,
        n => i64::from(n).min(MAX_PAGE_SIZE),
    }
}

/// An opaque token for the id cursor of `kind` (`users`, `audit`).
pub fn encode(kind: &str, cursor: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{cursor}"))
}

/// The next page's token of a listing that fetched `limit + 1` items:
/// drops the extra item and names the last kept one with `token`; empty
/// when there is no further page.
pub fn next_page_token<T>(
    items: &mut Vec<T>,
    limit: i64,
    token: impl FnOnce(&T) -> String,
) -> String {
    let limit = usize::try_from(limit).unwrap_or(0);
    if items.len() <= limit {
        return String::new();
    }
    items.truncate(limit);
    items.last().map(token).unwrap_or_default()
}

/// A page token that this listing did not issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadToken;

/// The cursor in a token of `kind`; None for an empty token; Err for a
/// token that is not ours.
pub fn decode(kind: &str, token: &str) -> Result<Option<i64>, BadToken> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| BadToken)?;
    let text = String::from_utf8(bytes).map_err(|_| BadToken)?;
    let (k, cursor) = text.split_once(':').ok_or(BadToken)?;
    if k != kind {
        return Err(BadToken);
    }
    cursor.parse().map(Some).map_err(|_| BadToken)
}

/// An opaque token for a (created_at, id) cursor of a newest-first listing.
pub fn encode_pair(kind: &str, created_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{created_at}:{id}"))
}

/// The (created_at, id) cursor in a token of `kind`.
pub fn decode_pair(kind: &str, token: &str) -> Result<Option<(i64, String)>, BadToken> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| BadToken)?;
    let text = String::from_utf8(bytes).map_err(|_| BadToken)?;
    let mut parts = text.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(k), Some(at), Some(id)) if k == kind && !id.is_empty() => {
            Ok(Some((at.parse().map_err(|_| BadToken)?, id.to_string())))
        }
        _ => Err(BadToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_item_makes_the_next_token() {
        let mut items = vec![1, 2, 3];
        assert_eq!(
            next_page_token(&mut items, 2, |i| encode("n", *i)),
            encode("n", 2)
        );
        assert_eq!(items, [1, 2]);
        assert_eq!(next_page_token(&mut items, 2, |i| encode("n", *i)), "");
        assert_eq!(items, [1, 2]);
    }

    #[test]
    fn tokens_round_trip_and_are_kind_checked() {
        let token = encode("users", 42);
        assert_eq!(decode("users", &token), Ok(Some(42)));
        assert_eq!(decode("users", ""), Ok(None));
        assert!(decode("audit", &token).is_err());
        assert!(decode("users", "garbage!").is_err());
        assert_eq!(page_size(0), DEFAULT_PAGE_SIZE);
        let pair = encode_pair("jobs", 17, "0193-ab");
        assert_eq!(decode_pair("jobs", &pair), Ok(Some((17, "0193-ab".into()))));
        assert!(decode_pair("jobs", &token).is_err());
        assert_eq!(page_size(10_000), MAX_PAGE_SIZE);
    }
}
