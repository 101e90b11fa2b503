//! Tests of the notify service: the store conformance suite (SQLite, and
//! PostgreSQL when `FIP_TEST_DATABASE_URL` is set), the in-process event
//! bus, and the gRPC API with a real user service as the directory of
//! recipients.

mod api;
mod bus;
mod harness;
mod store;
mod watch;
