//! Shared plumbing of every service of the platform.
//!
//! - [`config`]: `FIP_*` environment and TOML configuration with defaults.
//! - [`error`]: the wire error model (`google.rpc.Status` + `ErrorInfo`).
//! - [`auth`]: user JWTs, service identities, the verifying tower layer.
//! - [`db`]: SQLite/PostgreSQL pools with migrations.
//! - [`events`]: the process-wide event bus (in-process, or Redis pub/sub).
//! - [`json`]: `google.protobuf.Struct` ⇄ JSON objects.
//! - [`mesh`]: service names and channels to peers.
//! - [`paging`]: AIP-158 page sizes and opaque page tokens.
//! - [`private`]: the data directory kept to its owner (0700/0600).
//! - [`serve`]: hosting a service with health, reflection and graceful stop.
//! - [`sessions`]: whether a user token's session is still live, cached.
//! - [`telemetry`]: tracing set-up.
//! - [`testing`]: in-process services on ephemeral ports for tests.
//! - [`vault`]: AES-256-GCM key rings for secrets at rest.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod events;
pub mod json;
pub mod mesh;
pub mod paging;
pub mod private;
pub mod serve;
pub mod sessions;
pub mod streams;
pub mod telemetry;
pub mod testing;
pub mod vault;

pub use error::{ApiError, Violations};
