//! AIP-158 pagination: page sizes, and opaque page tokens.
//!
//! A token carries the listing it was issued for (a kind, such as `jobs`,
//! and the filters of the request) and the sort key of the last item it
//! returned. A token presented to another listing, or to the same listing
//! with other filters, is refused: it would otherwise page through a
//! result it was never part of.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Violations;

/// Page size when the request leaves it at 0.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger requested sizes are lowered to this.
pub const MAX_PAGE_SIZE: i64 = 500;

/// The effective page size (negative sizes are refused before this).
pub fn page_size(requested: i32) -> i64 {
    page_size_within(requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
}

/// The effective page size of a listing with its own default and maximum.
pub fn page_size_within(requested: i32, default: i64, max: i64) -> i64 {
    match requested {
        n if n <= 0 => default,
        n => i64::from(n).min(max),
    }
}

/// `page_size` checked (a negative size is a violation) and made effective.
pub fn checked_page_size(v: &mut Violations, requested: i32) -> i64 {
    checked_page_size_within(v, requested, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
}

/// [`checked_page_size`] for a listing with its own default and maximum.
pub fn checked_page_size_within(v: &mut Violations, requested: i32, default: i64, max: i64) -> i64 {
    if requested < 0 {
        v.add("page_size", "must not be negative");
    }
    page_size_within(requested, default, max)
}

/// What a token belongs to: the kind of listing and the filters of the
/// request that issued it, in a canonical text form (e.g. `status=2,3`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    text: String,
}

impl Listing {
    /// The listing `kind` with no filters.
    pub fn new(kind: &str) -> Self {
        Self {
            text: kind.to_string(),
        }
    }

    /// Adds a filter; `value` is written with `Debug`, so that strings,
    /// numbers, options and lists each have one unambiguous form.
    pub fn filter(mut self, name: &str, value: impl std::fmt::Debug) -> Self {
        self.text.push_str(&format!("\n{name}={value:?}"));
        self
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Token<K> {
    /// The listing and its filters.
    l: String,
    /// The sort key of the last item returned.
    k: K,
}

/// The token of the page after the item whose sort key is `key`.
pub fn encode<K: Serialize>(listing: &Listing, key: K) -> String {
    let token = Token {
        l: listing.text.clone(),
        k: key,
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).expect("a page token always encodes"))
}

/// The sort key in `token` (None for the first page). A token this listing
/// did not issue, or issued for other filters, is a violation of
/// `page_token`.
pub fn decode<K: DeserializeOwned>(
    v: &mut Violations,
    token: &str,
    listing: &Listing,
) -> Option<K> {
    if token.is_empty() {
        return None;
    }
    let parsed = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Token<K>>(&bytes).ok());
    match parsed {
        Some(t) if t.l == listing.text => Some(t.k),
        Some(_) => {
            v.add(
                "page_token",
                "was issued for another listing, or with other filters",
            );
            None
        }
        None => {
            v.add("page_token", "is not a token this listing issued");
            None
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extra_item_makes_the_next_token() {
        let listing = Listing::new("n");
        let mut items = vec![1, 2, 3];
        assert_eq!(
            next_page_token(&mut items, 2, |i| encode(&listing, *i)),
            encode(&listing, 2)
        );
        assert_eq!(items, [1, 2]);
        assert_eq!(next_page_token(&mut items, 2, |i| encode(&listing, *i)), "");
        assert_eq!(items, [1, 2]);
    }

    #[test]
    fn tokens_round_trip_for_their_listing_and_filters_only() {
        let failed = Listing::new("jobs")
            .filter("status", [4])
            .filter("query", "");
        let token = encode(&failed, (17_i64, "0193-ab"));
        let mut v = Violations::new();
        assert_eq!(
            decode::<(i64, String)>(&mut v, &token, &failed),
            Some((17, "0193-ab".to_string()))
        );
        assert_eq!(decode::<(i64, String)>(&mut v, "", &failed), None);
        assert!(v.is_empty());
        // Replayed with other filters, on another listing, or made up.
        let completed = Listing::new("jobs")
            .filter("status", [3])
            .filter("query", "");
        for (token, listing) in [
            (token.as_str(), &completed),
            (token.as_str(), &Listing::new("files")),
            ("garbage!", &failed),
        ] {
            let mut v = Violations::new();
            assert_eq!(decode::<(i64, String)>(&mut v, token, listing), None);
            assert!(!v.is_empty());
        }
        // A filter's value cannot pass for another's.
        assert_ne!(
            Listing::new("x").filter("a", "1\nb=2"),
            Listing::new("x").filter("a", "1").filter("b", 2)
        );
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size(0), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(10_000), MAX_PAGE_SIZE);
        assert_eq!(page_size_within(0, 20, 100), 20);
        assert_eq!(page_size_within(1_000, 20, 100), 100);
        let mut v = Violations::new();
        assert_eq!(checked_page_size(&mut v, -1), DEFAULT_PAGE_SIZE);
        assert!(!v.is_empty());
    }
}
