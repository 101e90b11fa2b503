//! AIP-158 pagination of the inbox: page sizes, and opaque page tokens that
//! carry the id cursor and the filters they were issued for (the kit's
//! tokens carry a kind only).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fip_kit::Violations;
use fip_kit::paging;
use serde::{Deserialize, Serialize};

/// The page size to use for `requested` (0: the default of 50; at most
/// 500; negative sizes are refused).
pub fn size(v: &mut Violations, requested: i32) -> i64 {
    if requested < 0 {
        v.add("page_size", "must not be negative");
    }
    paging::page_size(requested)
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// The filters of the listing, so a token cannot be replayed on another.
    f: String,
    /// The id of the last notification returned.
    b: i64,
}

/// The token of the page after the notification `before_id`.
pub fn encode(filters: &str, before_id: i64) -> String {
    let token = Token {
        f: filters.to_string(),
        b: before_id,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("a token always serialises"))
}

/// The cursor of `token` (None for the first page); a violation when it is
/// malformed or was issued for other filters.
pub fn decode(v: &mut Violations, token: &str, filters: &str) -> Option<i64> {
    if token.is_empty() {
        return None;
    }
    let parsed = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Token>(&bytes).ok());
    match parsed {
        Some(t) if t.f == filters => Some(t.b),
        Some(_) => {
            v.add("page_token", "was issued for a listing with other filters");
            None
        }
        None => {
            v.add("page_token", "is not a token this listing issued");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fip_kit::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

    #[test]
    fn tokens_round_trip_for_their_filters_only() {
        let mut v = Violations::new();
        let token = encode("unread", 42);
        assert_eq!(decode(&mut v, &token, "unread"), Some(42));
        assert_eq!(decode(&mut v, "", "unread"), None);
        assert!(v.is_empty());
        assert_eq!(decode(&mut v, &token, "all"), None);
        assert_eq!(decode(&mut v, "garbage!", "unread"), None);
        assert_eq!(v.finish().unwrap_err().violations.len(), 2);
    }

    #[test]
    fn sizes() {
        let mut v = Violations::new();
        assert_eq!(size(&mut v, 0), DEFAULT_PAGE_SIZE);
        assert_eq!(size(&mut v, 7), 7);
        assert_eq!(size(&mut v, 100_000), MAX_PAGE_SIZE);
        assert!(v.is_empty());
        size(&mut v, -1);
        assert!(!v.is_empty());
    }
}
