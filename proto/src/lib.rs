//! The platform's protobuf contracts, generated at build time from
//! `proto/fip/**` (the source of truth): messages, tonic clients and servers
//! for every package, and the encoded descriptor set.
//!
//! Packages are reachable both as `fip_proto::fip::user::v1` and, shorter,
//! `fip_proto::user::v1`.

#![allow(clippy::all, clippy::pedantic, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/_includes.rs"));

pub use self::fip::*;

/// The encoded `FileDescriptorSet` of every contract and its imports
/// (google.api annotations included), for reflection and transcoding.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/fip_descriptor.bin"));
