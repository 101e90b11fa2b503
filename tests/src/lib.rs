//! Emulators of external servers used by the black-box tests, and the
//! synthetic data they are fed.
//!
//! - [`cloudgene`]: a Cloudgene API v2 imputation server (Michigan, TOPMed,
//!   H3Africa) in-process on an ephemeral loopback port.
//! - [`fixtures`]: deterministic synthetic VCF files (text, BGZF, gzip).

pub mod cloudgene;
pub mod fixtures;
