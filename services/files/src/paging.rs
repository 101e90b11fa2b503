//! AIP-158 pagination over the file id cursor (UUIDv7 ids sort by creation
//! time). A token is tied to the filters of the listing that issued it;
//! page sizes are the kit's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use fip_kit::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, page_size};

/// An opaque token: the filters it belongs to and the last id returned.
pub fn encode(filters: &str, last_id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("files\n{filters}\n{last_id}"))
}

/// A page token that this listing did not issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadToken;

/// The cursor of a token issued for `filters`; None for an empty token.
pub fn decode(filters: &str, token: &str) -> Result<Option<String>, BadToken> {
    if token.is_empty() {
        return Ok(None);
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| BadToken)?;
    let text = String::from_utf8(bytes).map_err(|_| BadToken)?;
    let mut parts = text.splitn(3, '\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("files"), Some(f), Some(last)) if f == filters && !last.is_empty() => {
            Ok(Some(last.to_string()))
        }
        _ => Err(BadToken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_are_tied_to_their_filters() {
        let token = encode("input|job-1", "0189-abc");
        assert_eq!(
            decode("input|job-1", &token),
            Ok(Some("0189-abc".to_string()))
        );
        assert_eq!(decode("input|job-1", ""), Ok(None));
        assert!(decode("output|job-1", &token).is_err());
        assert!(decode("input|job-1", "garbage!").is_err());
        assert_eq!(page_size(0), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(7), 7);
        assert_eq!(page_size(10_000), MAX_PAGE_SIZE);
    }
}
