//! Tests of the files service: the store conformance suite (SQLite, and
//! PostgreSQL when `FIP_TEST_DATABASE_URL` is set) and the gRPC API through
//! a real tonic client, with contents in a local object store.

mod api;
mod harness;
mod internal;
mod links;
mod store;
mod uploads;
