//! The `fip` command: runs the platform, administers it, and is the
//! researcher's command line (sign in, credentials, check, submit, follow,
//! download).

pub mod admin;
pub mod commands;
pub mod hub;
pub mod output;
pub mod platform;
pub mod server;
