//! The `google.api.http` method option (`google.api.HttpRule`), read from
//! the descriptor pool's extension of `google.protobuf.MethodOptions`.

use prost::Message;
use prost_reflect::{DescriptorPool, MethodDescriptor};

/// The extension's full name (field 72295728 of `MethodOptions`).
pub const HTTP_EXTENSION: &str = "google.api.http";

/// `google.api.HttpRule`, as much of it as the gateway reads.
#[derive(Clone, PartialEq, prost::Message)]
pub struct HttpRule {
    #[prost(string, tag = "1")]
    pub selector: String,
    #[prost(oneof = "Pattern", tags = "2, 3, 4, 5, 6, 8")]
    pub pattern: Option<Pattern>,
    #[prost(string, tag = "7")]
    pub body: String,
    #[prost(string, tag = "12")]
    pub response_body: String,
    #[prost(message, repeated, tag = "11")]
    pub additional_bindings: Vec<HttpRule>,
}

/// The HTTP method and path template of a rule.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Pattern {
    #[prost(string, tag = "2")]
    Get(String),
    #[prost(string, tag = "3")]
    Put(String),
    #[prost(string, tag = "4")]
    Post(String),
    #[prost(string, tag = "5")]
    Delete(String),
    #[prost(string, tag = "6")]
    Patch(String),
    #[prost(message, tag = "8")]
    Custom(CustomPattern),
}

/// `google.api.CustomHttpPattern`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CustomPattern {
    #[prost(string, tag = "1")]
    pub kind: String,
    #[prost(string, tag = "2")]
    pub path: String,
}

impl Pattern {
    /// The HTTP method and the path template.
    pub fn method_and_path(&self) -> Result<(http::Method, &str), String> {
        Ok(match self {
            Pattern::Get(p) => (http::Method::GET, p),
            Pattern::Put(p) => (http::Method::PUT, p),
            Pattern::Post(p) => (http::Method::POST, p),
            Pattern::Delete(p) => (http::Method::DELETE, p),
            Pattern::Patch(p) => (http::Method::PATCH, p),
            Pattern::Custom(c) => (
                http::Method::from_bytes(c.kind.as_bytes())
                    .map_err(|_| format!("bad custom method `{}`", c.kind))?,
                &c.path,
            ),
        })
    }
}

/// `google.protobuf.MethodOptions` reduced to the `google.api.http`
/// extension.
#[derive(Clone, PartialEq, prost::Message)]
struct HttpOptions {
    #[prost(message, optional, tag = "72295728")]
    http: Option<HttpRule>,
}

/// The method's rule, when it has one.
///
/// The options are re-read from their encoding: the pool may have decoded
/// them before it knew the extension, keeping it as an unknown field.
pub fn http_rule(pool: &DescriptorPool, method: &MethodDescriptor) -> Option<HttpRule> {
    debug_assert!(pool.get_extension_by_name(HTTP_EXTENSION).is_some());
    HttpOptions::decode(method.options().encode_to_vec().as_slice())
        .ok()?
        .http
}

/// The rule followed by its additional bindings, flattened (bindings of
/// bindings are not allowed by the spec and are ignored).
pub fn bindings(rule: &HttpRule) -> Vec<HttpRule> {
    let mut out = vec![HttpRule {
        additional_bindings: Vec::new(),
        ..rule.clone()
    }];
    out.extend(rule.additional_bindings.iter().map(|b| HttpRule {
        additional_bindings: Vec::new(),
        ..b.clone()
    }));
    out
}
