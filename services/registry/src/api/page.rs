//! AIP-158 pagination: page sizes, and opaque page tokens that carry the
//! position after the last item and the filters they were issued for.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use fip_kit::Violations;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The page size to use: 0 means `default`, larger values are capped at `max`.
pub fn size(v: &mut Violations, field: &str, value: i32, default: usize, max: usize) -> usize {
    match value {
        0 => default,
        n if n < 0 => {
            v.add(field, "must not be negative");
            default
        }
        n => (n as usize).min(max),
    }
}

#[derive(Serialize, Deserialize)]
struct Token {
    /// The filters of the listing, so a token cannot be replayed on another.
    f: String,
    /// The sort key of the last item returned.
    k: Vec<Value>,
}

/// Encodes the position after the last item of a page.
pub fn encode(filters: &str, key: Vec<Value>) -> String {
    let token = Token {
        f: filters.to_string(),
        k: key,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("a token always serialises"))
}

/// Decodes `token` into its key; records a violation on `field` when it is
/// malformed or was issued for other filters.
pub fn decode(v: &mut Violations, field: &str, token: &str, filters: &str) -> Option<Vec<Value>> {
    if token.is_empty() {
        return None;
    }
    let parsed = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Token>(&bytes).ok());
    match parsed {
        Some(t) if t.f == filters => Some(t.k),
        Some(_) => {
            v.add(field, "was issued for a listing with other filters");
            None
        }
        None => {
            v.add(field, "is not a token this listing issued");
            None
        }
    }
}

/// Reads a key of `(text, number)` parts by position.
pub fn text(key: &[Value], at: usize) -> Option<String> {
    key.get(at)?.as_str().map(str::to_string)
}

pub fn number(key: &[Value], at: usize) -> Option<i64> {
    key.get(at)?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_for_their_filters_only() {
        let token = encode("api_type=1", vec![Value::from("Michigan"), Value::from(7)]);
        let mut v = Violations::new();
        let key = decode(&mut v, "page_token", &token, "api_type=1").unwrap();
        assert_eq!(text(&key, 0).as_deref(), Some("Michigan"));
        assert_eq!(number(&key, 1), Some(7));
        assert!(v.is_empty());
        assert!(decode(&mut v, "page_token", &token, "api_type=2").is_none());
        assert!(decode(&mut v, "page_token", "garbage!", "api_type=1").is_none());
        assert_eq!(v.finish().unwrap_err().violations.len(), 2);
    }

    #[test]
    fn sizes() {
        let mut v = Violations::new();
        assert_eq!(size(&mut v, "page_size", 0, 100, 500), 100);
        assert_eq!(size(&mut v, "page_size", 7, 100, 500), 7);
        assert_eq!(size(&mut v, "page_size", 9999, 100, 500), 500);
        assert!(v.is_empty());
        size(&mut v, "page_size", -1, 100, 500);
        assert!(!v.is_empty());
    }
}
