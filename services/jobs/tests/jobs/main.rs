//! Tests of the jobs service's store (the conformance suite: SQLite, and
//! PostgreSQL when `FIP_TEST_DATABASE_URL` is set). The service as a whole
//! is tested end to end in `tests/e2e`.

mod store;
