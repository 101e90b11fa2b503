//! Emulators of external servers used by the black-box tests, and the
//! synthetic data they are fed.
//!
//! - [`cloudgene`]: a Cloudgene API v2 imputation server (Michigan, TOPMed,
//!   H3Africa) in-process on an ephemeral loopback port.
//! - [`wes`]: a GA4GH WES server (with a DRS endpoint) in-process.
//! - [`fixtures`]: deterministic synthetic VCF files (text, BGZF, gzip).

pub mod cloudgene;
pub mod fixtures;
pub mod wes;
