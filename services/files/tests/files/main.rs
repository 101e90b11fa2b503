//! Tests of the files service: the store conformance suite (SQLite, and
//! PostgreSQL when `FIP_TEST_DATABASE_URL` is set) and the gRPC API through
//! a real tonic client, with contents in a local object store, or in S3
//! when `FIP_TEST_S3_URL` names a bucket of an S3-compatible server
//! (`http://127.0.0.1:9090/fip-test`; scripts/s3-up starts one).

mod api;
mod harness;
mod internal;
mod links;
mod objects;
mod store;
mod uploads;
