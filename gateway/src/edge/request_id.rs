//! Request ids: `x-request-id` is taken from the request when it is a
//! reasonable token (at most 128 visible ASCII characters), otherwise a new
//! UUIDv7 is made; it is passed upstream, written in the access log and
//! echoed on the response.

use http::{HeaderName, HeaderValue, Request};
use tower_http::request_id::{MakeRequestId, RequestId};

/// The header.
pub const HEADER: &str = "x-request-id";

/// The header name as a constant for tower-http's layers.
pub fn header() -> HeaderName {
    HeaderName::from_static(HEADER)
}

/// Keeps a sane incoming id, else makes a UUIDv7.
#[derive(Clone, Copy, Default)]
pub struct MakeId;

impl MakeRequestId for MakeId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        let id = uuid::Uuid::now_v7().to_string();
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// Whether an incoming id is kept as is.
pub fn is_acceptable(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= 128 && bytes.iter().all(|b| b.is_ascii_graphic())
}

/// Drops an unacceptable incoming id so that a fresh one is made.
pub fn sanitize<B>(mut request: Request<B>) -> Request<B> {
    if request
        .headers()
        .get(HEADER)
        .is_some_and(|v| !is_acceptable(v))
    {
        request.headers_mut().remove(HEADER);
    }
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_ids_are_replaced() {
        assert!(is_acceptable(&HeaderValue::from_static("abc-123")));
        assert!(!is_acceptable(&HeaderValue::from_static("has space")));
        assert!(!is_acceptable(
            &HeaderValue::from_str(&"x".repeat(129)).unwrap()
        ));
        let request = Request::builder()
            .header(HEADER, "has space")
            .body(())
            .unwrap();
        assert!(sanitize(request).headers().get(HEADER).is_none());
    }
}
