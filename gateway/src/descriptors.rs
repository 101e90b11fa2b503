//! What the gateway exposes, read from the embedded descriptor set: every
//! `fip.*` service except those named `*InternalService`, and which of their
//! RPCs need no access token.

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::DescriptorPool;
use prost_types::FileDescriptorSet;

/// RPCs callable without an access token (`fip.common.v1` rest.proto,
/// "Identity and roles"), as `service/method`.
pub const PUBLIC_METHODS: &[&str] = &[
    "fip.user.v1.UserService/Register",
    "fip.user.v1.UserService/Login",
    "fip.user.v1.UserService/RefreshSession",
    "fip.monitor.v1.MonitorService/GetHealth",
    "fip.files.v1.FileService/DownloadFileByLink",
];

/// gRPC services the gateway answers itself, open to anyone.
pub const OPEN_SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Whether a fully-qualified gRPC service name is internal-only.
pub fn is_internal(service: &str) -> bool {
    service.ends_with("InternalService")
}

/// Whether `service/method` may be called without a token.
pub fn is_public_method(service: &str, method: &str) -> bool {
    OPEN_SERVICES.contains(&service)
        || PUBLIC_METHODS
            .iter()
            .any(|m| m.split_once('/') == Some((service, method)))
}

/// Whether `service/method` is a contract method whose request streams.
pub fn is_client_streaming(service: &str, method: &str) -> bool {
    pool()
        .get_service_by_name(service)
        .and_then(|s| s.methods().find(|m| m.name() == method))
        .is_some_and(|m| m.is_client_streaming())
}

/// The descriptor pool of every contract (with the `google.api` options).
pub fn pool() -> &'static DescriptorPool {
    static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
        DescriptorPool::decode(fip_proto::FILE_DESCRIPTOR_SET)
            .expect("the embedded descriptor set decodes")
    });
    &POOL
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
    let mut names: Vec<String> = pool()
        .services()
        .map(|s| s.full_name().to_string())
        .filter(|n| n.starts_with("fip.") && !is_internal(n))
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
        let internal = pool()
            .services()
            .filter(|s| is_internal(s.full_name()))
            .count();
        assert!(internal > 0, "the contracts define internal services");
        let public = public_descriptor_set();
        assert!(
            public
                .file
                .iter()
                .flat_map(|f| &f.service)
                .all(|s| !s.name().ends_with("InternalService"))
        );
    }

    #[test]
    fn uploads_are_told_apart_by_their_streaming_request() {
        assert!(is_client_streaming(
            "fip.files.v1.FileService",
            "UploadFile"
        ));
        assert!(!is_client_streaming(
            "fip.files.v1.FileService",
            "DownloadFile"
        ));
        assert!(!is_client_streaming("fip.user.v1.UserService", "Login"));
        assert!(!is_client_streaming(
            "fip.files.v1.FileService",
            "NoSuchMethod"
        ));
        assert!(!is_client_streaming("no.such.Service", "UploadFile"));
    }

    #[test]
    fn public_methods_exist() {
        for entry in PUBLIC_METHODS {
            let (service, method) = entry.split_once('/').unwrap();
            let service = pool().get_service_by_name(service).expect(entry);
            assert!(service.methods().any(|m| m.name() == method), "{entry}");
        }
    }
}
