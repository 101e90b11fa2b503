//! What the gateway exposes, read from the embedded descriptor set: every
//! `fip.*` service except those named `*InternalService`.

use prost::Message;
use prost_types::FileDescriptorSet;

/// Whether a fully-qualified gRPC service name is internal-only.
pub fn is_internal(service: &str) -> bool {
    service.ends_with("InternalService")
}

/// The descriptor set with internal services removed.
pub fn public_descriptor_set() -> FileDescriptorSet {
    let mut set = FileDescriptorSet::decode(fip_proto::FILE_DESCRIPTOR_SET)
        .expect("the embedded descriptor set decodes");
    for file in &mut set.file {
        let package = file.package().to_string();
        file.service
            .retain(|s| !is_internal(&format!("{package}.{}", s.name())));
    }
    set
}

/// Fully-qualified names of the public services, sorted.
pub fn public_services() -> Vec<String> {
    let mut names: Vec<String> = public_descriptor_set()
        .file
        .iter()
        .filter(|f| f.package().starts_with("fip."))
        .flat_map(|f| {
            f.service
                .iter()
                .map(move |s| format!("{}.{}", f.package(), s.name()))
        })
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_services_are_hidden() {
        let names = public_services();
        assert!(!names.is_empty());
        assert!(names.iter().all(|n| !is_internal(n)));
        assert!(names.iter().any(|n| n == "fip.user.v1.UserService"));
        let all = FileDescriptorSet::decode(fip_proto::FILE_DESCRIPTOR_SET).unwrap();
        let internal = all
            .file
            .iter()
            .flat_map(|f| {
                f.service
                    .iter()
                    .map(move |s| format!("{}.{}", f.package(), s.name()))
            })
            .filter(|n| is_internal(n))
            .count();
        assert!(internal > 0, "the contracts define internal services");
    }
}
