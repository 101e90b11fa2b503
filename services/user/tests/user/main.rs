//! Tests of the user service: the store conformance suite (SQLite, and
//! PostgreSQL when `FIP_TEST_DATABASE_URL` is set) and the gRPC API with a
//! real registry and a local stand-in for the external servers.

mod api;
mod harness;
mod remote;
mod security;
mod sessions;
mod store;
