//! The `fip` command: runs the platform and administers it.

pub mod platform;
pub mod server;
