//! The `fip` command: runs the platform and administers it.

pub mod admin;
pub mod platform;
pub mod server;
