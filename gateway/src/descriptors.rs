//! What the gateway exposes, read from the embedded descriptor set: every
//! `fip.*` service except those marked `(fip.common.v1.internal)`, and which
//! of their RPCs need no access token.

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::{DescriptorPool, FieldDescriptor, MethodDescriptor, ServiceDescriptor};
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

/// The project's options (`fip/common/v1/options.proto`), read back from
/// an element's encoded options: the pool may have decoded them before it
/// knew the extensions, keeping them as unknown fields. One message for
/// the three, whose numbers differ.
#[derive(Clone, PartialEq, prost::Message)]
struct FipOptions {
    /// `fip.common.v1.internal` (a service option).
    #[prost(bool, tag = "51001")]
    internal: bool,
    /// `fip.common.v1.uploaded_file` (a field option).
    #[prost(bool, tag = "51002")]
    uploaded_file: bool,
    /// `fip.common.v1.deletes_upload` (a method option).
    #[prost(bool, tag = "51003")]
    deletes_upload: bool,
}

fn fip_options(options: &prost_reflect::DynamicMessage) -> FipOptions {
    FipOptions::decode(options.encode_to_vec().as_slice()).unwrap_or_default()
}

/// Whether a service is marked `(fip.common.v1.internal)`.
pub fn is_internal_service(service: &ServiceDescriptor) -> bool {
    fip_options(&service.options()).internal
}

/// Whether a field is marked `(fip.common.v1.uploaded_file)`.
pub fn is_uploaded_file(field: &FieldDescriptor) -> bool {
    fip_options(&field.options()).uploaded_file
}

/// Whether a method is marked `(fip.common.v1.deletes_upload)`.
pub fn deletes_upload(method: &MethodDescriptor) -> bool {
    fip_options(&method.options()).deletes_upload
}

/// Whether a fully-qualified gRPC service name names a service of the
/// contracts that the gateway exposes: known, and not internal. Anything
/// else (internal, or no service at all) is neither routed nor listed.
pub fn is_exposed(service: &str) -> bool {
    pool()
        .get_service_by_name(service)
        .is_some_and(|s| !is_internal_service(&s))
}

/// Whether a fully-qualified gRPC service name is an internal service.
pub fn is_internal(service: &str) -> bool {
    pool()
        .get_service_by_name(service)
        .is_some_and(|s| is_internal_service(&s))
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
            .retain(|s| is_exposed(&format!("{package}.{}", s.name())));
    }
    set
}

/// Fully-qualified names of the public services, sorted.
pub fn public_services() -> Vec<String> {
    let mut names: Vec<String> = pool()
        .services()
        .map(|s| s.full_name().to_string())
        .filter(|n| n.starts_with("fip.") && is_exposed(n))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_options_are_read_with_their_declared_numbers() {
        for (name, number) in [
            ("fip.common.v1.internal", 51001),
            ("fip.common.v1.uploaded_file", 51002),
            ("fip.common.v1.deletes_upload", 51003),
        ] {
            let extension = pool().get_extension_by_name(name).expect(name);
            assert_eq!(extension.number(), number, "{name}");
        }
        let submit = pool()
            .get_message_by_name("fip.jobs.v1.SubmitJobRequest")
            .unwrap();
        assert!(is_uploaded_file(
            &submit.get_field_by_name("input_file_id").unwrap()
        ));
        assert!(!is_uploaded_file(
            &submit.get_field_by_name("name").unwrap()
        ));
        let files = pool()
            .get_service_by_name("fip.files.v1.FileService")
            .unwrap();
        let marked: Vec<_> = files
            .methods()
            .filter(deletes_upload)
            .map(|m| m.name().to_string())
            .collect();
        assert_eq!(marked, ["DeleteFile"]);
        // The names follow the option, for people reading them.
        for service in pool()
            .services()
            .filter(|s| s.full_name().starts_with("fip."))
        {
            assert_eq!(
                is_internal_service(&service),
                service.name().ends_with("InternalService"),
                "{}",
                service.full_name()
            );
        }
        assert!(!is_exposed("fip.user.v1.UserInternalService"));
        assert!(!is_exposed("fip.user.v1.NoSuchService"));
        assert!(is_exposed("fip.user.v1.UserService"));
    }

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
