//! HTTP handlers, one module per resource.

pub(crate) mod downloads;
pub(crate) mod jobs;
pub(crate) mod server;
pub(crate) mod submit;
pub(crate) mod tokens;
