//! The researcher's connection to a hub: saved profiles, a signed-in gRPC
//! channel that renews its session, and errors turned into advice.

pub mod error;
pub mod profile;
pub mod session;

pub use error::{CliError, Exit};
pub use profile::{Profile, Profiles};
pub use session::Hub;
