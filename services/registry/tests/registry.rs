//! Integration tests of the registry: the store conformance suite, the gRPC
//! API as the platform starts it, health checks and panel discovery against
//! local HTTP emulators of the external servers.

#[path = "registry/api.rs"]
mod api;
#[path = "registry/health.rs"]
mod health;
#[path = "registry/store.rs"]
mod store;
#[path = "registry/support.rs"]
mod support;
#[path = "registry/sync.rs"]
mod sync;
