//! Tests of the notify service: the store conformance suite (SQLite, and
//! PostgreSQL when `FIP_TEST_DATABASE_URL` is set), the in-process event
//! bus, and the gRPC API with a real user service as the directory of
//! recipients, and email against a real SMTP server (scripts/smtp-sink).

mod api;
mod bus;
mod email;
mod harness;
mod outbox;
mod smtp;
mod store;
mod watch;
