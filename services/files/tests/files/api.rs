//! Reading, listing and deleting through the public API: ownership,
//! pagination and filters, and the real entry point.

use fip_kit::auth::Role;
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::testing::{spawn, user_token, with_token};
use fip_proto::common::v1::ErrorReason;
use fip_proto::files::v1 as pb;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use tonic::Code;

use crate::harness::*;

#[tokio::test]
async fn another_users_file_does_not_exist_for_them() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let bob = h.user(2, "bob");
    let file = h
        .upload(&ada, named("ada.vcf"), vec![content(100, 1)])
        .await
        .unwrap();
    let id = file.id.clone();
    let mut client = h.client();

    let get = client
        .get_file(with_token(pb::GetFileRequest { id: id.clone() }, &bob))
        .await
        .unwrap_err();
    let download = h.download(&bob, &id, 0, 0).await.unwrap_err();
    let link = client
        .create_download_link(with_token(
            pb::CreateDownloadLinkRequest {
                id: id.clone(),
                ttl_seconds: 0,
            },
            &bob,
        ))
        .await
        .unwrap_err();
    let delete = client
        .delete_file(with_token(pb::DeleteFileRequest { id: id.clone() }, &bob))
        .await
        .unwrap_err();
    let absent = client
        .get_file(with_token(
            pb::GetFileRequest {
                id: uuid::Uuid::now_v7().to_string(),
            },
            &bob,
        ))
        .await
        .unwrap_err();
    for status in [&get, &download, &link, &delete, &absent] {
        assert_eq!(status.code(), Code::NotFound, "{status:?}");
        let error = details(status);
        assert_eq!(error.reason, ErrorReason::NotFound);
        assert_eq!(error.metadata["resource_type"], "file");
    }
    assert_eq!(
        get.message(),
        format!("file {id} not found"),
        "another user's file reads like an absent one"
    );
    assert!(h.list(&bob).await.files.is_empty());
    assert_eq!(h.list(&bob).await.used_bytes, 0);

    // Still there for its owner; an admin sees anyone's.
    assert_eq!(h.list(&ada).await.files.len(), 1);
    let admin = h.admin(99);
    let seen = client
        .get_file(with_token(pb::GetFileRequest { id: id.clone() }, &admin))
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    assert_eq!(seen.owner_user_id, 1);
    let (_, chunks) = h.download(&admin, &id, 0, 0).await.unwrap();
    assert_eq!(chunks.concat(), content(100, 1));
    assert!(
        h.list(&admin).await.files.is_empty(),
        "lists show one's own files"
    );

    // Bad ids and missing tokens.
    let malformed = client
        .get_file(with_token(
            pb::GetFileRequest {
                id: "../etc".into(),
            },
            &ada,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&malformed), ErrorReason::ValidationFailed);
    let anonymous = client
        .get_file(pb::GetFileRequest { id: id.clone() })
        .await
        .unwrap_err();
    assert_eq!(reason(&anonymous), ErrorReason::TokenMissing);
    let jobs = client
        .get_file(with_token(
            pb::GetFileRequest { id },
            &h.service(ServiceName::Jobs),
        ))
        .await
        .unwrap_err();
    assert_eq!(jobs.code(), Code::PermissionDenied);
    h.stop().await;
}

#[tokio::test]
async fn listing_pages_newest_first_with_filters() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let mut ids = Vec::new();
    for i in 0..5 {
        let file = h
            .upload(
                &ada,
                named(&format!("f{i}.vcf")),
                vec![content(10 + i, i as u64)],
            )
            .await
            .unwrap();
        ids.push(file.id);
    }
    h.upload(&h.user(2, "bob"), named("bob.vcf"), vec![vec![1]])
        .await
        .unwrap();
    let mut client = h.client();
    let mut seen = Vec::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_files(with_token(
                pb::ListFilesRequest {
                    page_size: 2,
                    page_token: token.clone(),
                    ..Default::default()
                },
                &ada,
            ))
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert_eq!(page.total_size, 5);
        assert_eq!(page.used_bytes, (10..15).sum::<i64>());
        assert_eq!(page.quota_bytes, 0);
        seen.extend(page.files.iter().map(|f| f.id.clone()));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    ids.reverse();
    assert_eq!(seen, ids, "newest first, each once");

    // A page token belongs to the filters it was issued for.
    let first = client
        .list_files(with_token(
            pb::ListFilesRequest {
                page_size: 1,
                ..Default::default()
            },
            &ada,
        ))
        .await
        .unwrap()
        .into_inner();
    for request in [
        pb::ListFilesRequest {
            page_token: first.next_page_token.clone(),
            kind: pb::FileKind::Input as i32,
            ..Default::default()
        },
        pb::ListFilesRequest {
            page_token: "not-a-token".into(),
            ..Default::default()
        },
        pb::ListFilesRequest {
            page_size: -1,
            ..Default::default()
        },
        pb::ListFilesRequest {
            kind: 9,
            ..Default::default()
        },
    ] {
        let status = client
            .list_files(with_token(request, &ada))
            .await
            .unwrap_err();
        assert_eq!(reason(&status), ErrorReason::ValidationFailed);
    }

    // Filters: by kind (users' uploads are inputs) and by job.
    let by_kind = |kind: pb::FileKind| pb::ListFilesRequest {
        kind: kind as i32,
        ..Default::default()
    };
    let inputs = client
        .list_files(with_token(by_kind(pb::FileKind::Input), &ada))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(inputs.total_size, 5);
    let outputs = client
        .list_files(with_token(by_kind(pb::FileKind::Output), &ada))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outputs.total_size, 0);
    assert!(outputs.files.is_empty());
    let by_job = client
        .list_files(with_token(
            pb::ListFilesRequest {
                job_id: "no-such-job".into(),
                ..Default::default()
            },
            &ada,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_job.total_size, 0);
    h.stop().await;
}

#[tokio::test]
async fn deleting_removes_metadata_and_content() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let keep = h
        .upload(&ada, named("keep.vcf"), vec![content(10, 1)])
        .await
        .unwrap();
    let gone = h
        .upload(
            &ada,
            named("gone.vcf"),
            split(&content(PART_PLUS, 2), &[MIB]),
        )
        .await
        .unwrap();
    assert_eq!(h.stored_objects().await.len(), 2);
    let mut client = h.client();
    client
        .delete_file(with_token(
            pb::DeleteFileRequest {
                id: gone.id.clone(),
            },
            &ada,
        ))
        .await
        .unwrap();
    let objects = h.stored_objects().await;
    assert_eq!(objects.len(), 1);
    assert!(objects[0].ends_with(&keep.id));
    let again = client
        .delete_file(with_token(
            pb::DeleteFileRequest {
                id: gone.id.clone(),
            },
            &ada,
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&again), ErrorReason::NotFound);
    let download = h.download(&ada, &gone.id, 0, 0).await.unwrap_err();
    assert_eq!(reason(&download), ErrorReason::NotFound);
    let listed = h.list(&ada).await;
    assert_eq!(listed.files.len(), 1);
    assert_eq!(listed.used_bytes, 10);
    // An admin may delete anyone's file.
    client
        .delete_file(with_token(
            pb::DeleteFileRequest { id: keep.id },
            &h.admin(99),
        ))
        .await
        .unwrap();
    assert!(h.stored_objects().await.is_empty());
    h.stop().await;
}

const PART_PLUS: usize = fip_files::objects::PART_SIZE + 1;

/// The real entry point: the store under `<data_dir>/files`, the link key
/// generated into `<data_dir>/keys/file-links.key` (mode 0600).
#[tokio::test]
async fn start_serves_from_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let config = fip_kit::testing::config(dir.path(), "fs");
    let ctx = fip_kit::testing::context(ServiceName::Files, config.clone(), Peers::default());
    let service = spawn(fip_files::start(&ctx).await.unwrap(), &ctx)
        .await
        .unwrap();
    let key = dir.path().join("keys/file-links.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let token = user_token(&ctx, 5, "eve", &[Role::Researcher]);
    let mut client = FileServiceClient::connect(service.url.clone())
        .await
        .unwrap();
    let data = content(3 * MIB, 9);
    let messages = std::iter::once(pb::upload_file_request::Data::Metadata(named("x.vcf")))
        .chain(
            split(&data, &[MIB])
                .into_iter()
                .map(|c| pb::upload_file_request::Data::Chunk(c.into())),
        )
        .map(|d| pb::UploadFileRequest { data: Some(d) })
        .collect::<Vec<_>>();
    let file = client
        .upload_file(with_token(tokio_stream::iter(messages), &token))
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    assert!(dir.path().join("files").join(&file.id).is_file());
    let link = client
        .create_download_link(with_token(
            pb::CreateDownloadLinkRequest {
                id: file.id.clone(),
                ttl_seconds: 60,
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    service.stop().await.unwrap();

    // A restart reads the same key: links made before it still work.
    let again = spawn(fip_files::start(&ctx).await.unwrap(), &ctx)
        .await
        .unwrap();
    let mut client = FileServiceClient::connect(again.url.clone()).await.unwrap();
    let mut stream = client
        .download_file_by_link(pb::DownloadFileByLinkRequest {
            token: link.url.rsplit('/').next().unwrap().to_string(),
            offset: 0,
            length: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await.unwrap() {
        if let Some(pb::download_file_by_link_response::Data::Chunk(c)) = message.data {
            bytes.extend(c);
        }
    }
    assert_eq!(sha256_hex(&bytes), sha256_hex(&data));
    again.stop().await.unwrap();
    if config.database_url.is_some() {
        fip_files::open_db(&config)
            .await
            .unwrap()
            .drop_schema()
            .await
            .unwrap();
    }
}
