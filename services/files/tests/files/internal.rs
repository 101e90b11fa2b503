//! `FileInternalService`: the jobs identity only; job results, reading any
//! file, lookups, job links, links for external servers, and retention.

use fip_files::files::Settings;
use fip_kit::db::timestamp;
use fip_kit::mesh::ServiceName;
use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::files::v1 as pb;
use tonic::Code;

use crate::harness::*;

fn job_file(owner_user_id: i64, job_id: &str, name: &str) -> pb::JobFileMetadata {
    pb::JobFileMetadata {
        owner_user_id,
        job_id: job_id.into(),
        name: name.into(),
        kind: pb::FileKind::Output as i32,
        ..Default::default()
    }
}

async fn upload_job_file(
    h: &Harness,
    token: &str,
    metadata: pb::JobFileMetadata,
    data: &[u8],
) -> Result<pb::File, tonic::Status> {
    let messages = std::iter::once(pb::upload_job_file_request::Data::Metadata(metadata))
        .chain(
            split(data, &[MIB])
                .into_iter()
                .map(|c| pb::upload_job_file_request::Data::Chunk(c.into())),
        )
        .map(|d| pb::UploadJobFileRequest { data: Some(d) })
        .collect::<Vec<_>>();
    Ok(h.internal()
        .upload_job_file(with_token(tokio_stream::iter(messages), token))
        .await?
        .into_inner()
        .file
        .unwrap())
}

async fn read(
    h: &Harness,
    token: &str,
    id: &str,
    offset: i64,
    length: i64,
) -> Result<Vec<u8>, tonic::Status> {
    let mut stream = h
        .internal()
        .read_file(with_token(
            pb::ReadFileRequest {
                id: id.into(),
                offset,
                length,
            },
            token,
        ))
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    let mut first = true;
    while let Some(message) = stream.message().await? {
        match message.data {
            Some(pb::read_file_response::Data::Metadata(m)) => {
                assert!(first);
                assert_eq!(m.id, id);
            }
            Some(pb::read_file_response::Data::Chunk(c)) => bytes.extend(c),
            None => panic!("an empty message"),
        }
        first = false;
    }
    Ok(bytes)
}

#[tokio::test]
async fn only_the_jobs_identity_may_call() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let file = h
        .upload(&ada, named("a.vcf"), vec![vec![1; 10]])
        .await
        .unwrap();
    let id = file.id.clone();
    for token in [
        ada.clone(),
        h.admin(99),
        h.service(ServiceName::Registry),
        h.service(ServiceName::Notify),
    ] {
        let mut client = h.internal();
        let statuses = [
            upload_job_file(&h, &token, job_file(1, "j", "r.txt"), b"x")
                .await
                .unwrap_err(),
            read(&h, &token, &id, 0, 0).await.unwrap_err(),
            client
                .lookup_file(with_token(
                    pb::LookupFileRequest {
                        id: id.clone(),
                        owner_user_id: 0,
                    },
                    &token,
                ))
                .await
                .unwrap_err(),
            client
                .link_file_to_job(with_token(
                    pb::LinkFileToJobRequest {
                        file_id: id.clone(),
                        job_id: "j".into(),
                        owner_user_id: 1,
                    },
                    &token,
                ))
                .await
                .unwrap_err(),
            client
                .create_job_file_link(with_token(
                    pb::CreateJobFileLinkRequest {
                        id: id.clone(),
                        ttl_seconds: 0,
                    },
                    &token,
                ))
                .await
                .unwrap_err(),
        ];
        for status in statuses {
            assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
            let error = details(&status);
            assert_eq!(error.reason, ErrorReason::PermissionDenied);
            assert_eq!(error.metadata["required_identity"], "service:jobs");
        }
    }
    let anonymous = h
        .internal()
        .lookup_file(pb::LookupFileRequest {
            id,
            owner_user_id: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(reason(&anonymous), ErrorReason::TokenMissing);
    h.uploads_settled().await;
    assert_eq!(
        h.stored_objects().await.len(),
        1,
        "nothing stored by refused calls"
    );
    h.stop().await;
}

#[tokio::test]
async fn jobs_store_results_read_any_file_and_link_inputs() {
    let h = Harness::start().await;
    let jobs = h.service(ServiceName::Jobs);
    let ada = h.user(1, "ada");
    let input = h
        .upload(&ada, named("in.vcf"), vec![content(5000, 1)])
        .await
        .unwrap();

    // A result for ada, stored by the jobs service.
    let data = content(3 * MIB + 1, 2);
    let result = upload_job_file(
        &h,
        &jobs,
        pb::JobFileMetadata {
            content_type: "application/zip".into(),
            expected_size_bytes: Some(data.len() as i64),
            expected_sha256: sha256_hex(&data),
            ..job_file(1, "job-1", "results/chr20.zip")
        },
        &data,
    )
    .await
    .unwrap();
    assert_eq!(result.owner_user_id, 1);
    assert_eq!(result.job_id, "job-1");
    assert_eq!(result.kind, pb::FileKind::Output as i32);
    assert_eq!(result.name, "chr20.zip");
    assert_eq!(result.sha256, sha256_hex(&data));
    // Its owner sees it like any of their files.
    let (_, chunks) = h.download(&ada, &result.id, 0, 0).await.unwrap();
    assert!(chunks.concat() == data);

    // Integrity is checked for jobs too.
    let bad = upload_job_file(
        &h,
        &jobs,
        pb::JobFileMetadata {
            expected_sha256: sha256_hex(b"other"),
            ..job_file(1, "job-1", "x.zip")
        },
        &data,
    )
    .await
    .unwrap_err();
    assert_eq!(reason(&bad), ErrorReason::IntegrityCheckFailed);
    let invalid = upload_job_file(
        &h,
        &jobs,
        pb::JobFileMetadata {
            kind: 0,
            ..job_file(0, "", "x.zip")
        },
        b"x",
    )
    .await
    .unwrap_err();
    let fields: Vec<String> = details(&invalid)
        .violations
        .into_iter()
        .map(|(f, _)| f)
        .collect();
    assert_eq!(fields, ["metadata.kind"]);

    // Reading any file, whole or a range.
    assert_eq!(
        read(&h, &jobs, &input.id, 0, 0).await.unwrap(),
        content(5000, 1)
    );
    assert_eq!(
        read(&h, &jobs, &result.id, 10, 20).await.unwrap(),
        data[10..30]
    );
    let missing = read(&h, &jobs, &uuid::Uuid::now_v7().to_string(), 0, 0)
        .await
        .unwrap_err();
    assert_eq!(reason(&missing), ErrorReason::NotFound);

    // Lookups check the owner when asked.
    let mut client = h.internal();
    let lookup = |owner_user_id: i64| {
        let mut client = h.internal();
        let request = with_token(
            pb::LookupFileRequest {
                id: input.id.clone(),
                owner_user_id,
            },
            &jobs,
        );
        async move { client.lookup_file(request).await }
    };
    assert_eq!(lookup(0).await.unwrap().into_inner().file.unwrap(), input);
    assert_eq!(lookup(1).await.unwrap().into_inner().file.unwrap(), input);
    assert_eq!(reason(&lookup(2).await.unwrap_err()), ErrorReason::NotFound);

    // Linking: the first job stays the file's job; every job lists it.
    let link = |job_id: &str, owner_user_id: i64| {
        with_token(
            pb::LinkFileToJobRequest {
                file_id: input.id.clone(),
                job_id: job_id.into(),
                owner_user_id,
            },
            &jobs,
        )
    };
    for job in ["job-2", "job-2", "job-3"] {
        let linked = client
            .link_file_to_job(link(job, 1))
            .await
            .unwrap()
            .into_inner()
            .file
            .unwrap();
        assert_eq!(linked.job_id, "job-2");
    }
    let not_theirs = client.link_file_to_job(link("job-4", 2)).await.unwrap_err();
    assert_eq!(reason(&not_theirs), ErrorReason::NotFound);
    let no_job = client.link_file_to_job(link(" ", 1)).await.unwrap_err();
    assert_eq!(reason(&no_job), ErrorReason::ValidationFailed);
    for (job, expected) in [("job-1", &result), ("job-3", &input)] {
        let listed = h
            .client()
            .list_files(with_token(
                pb::ListFilesRequest {
                    job_id: job.into(),
                    ..Default::default()
                },
                &ada,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(listed.total_size, 1, "{job}");
        assert_eq!(&listed.files[0].id, &expected.id);
    }
    let outputs = h
        .client()
        .list_files(with_token(
            pb::ListFilesRequest {
                kind: pb::FileKind::Output as i32,
                ..Default::default()
            },
            &ada,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(outputs.files.len(), 1);
    assert_eq!(outputs.files[0].id, result.id);
    h.stop().await;
}

#[tokio::test]
async fn links_for_external_servers_need_a_public_base_url() {
    let without = Harness::start().await;
    let jobs = without.service(ServiceName::Jobs);
    let file = without
        .upload(&without.user(1, "ada"), named("a.vcf"), vec![vec![7; 64]])
        .await
        .unwrap();
    let status = without
        .internal()
        .create_job_file_link(with_token(
            pb::CreateJobFileLinkRequest {
                id: file.id.clone(),
                ttl_seconds: 0,
            },
            &jobs,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    let error = details(&status);
    assert_eq!(error.reason, ErrorReason::OperationNotSupported);
    without.stop().await;

    let h = Harness::with_settings(Settings {
        public_base_url: Some("https://hub.example.org".into()),
        ..default_settings()
    })
    .await;
    let jobs = h.service(ServiceName::Jobs);
    let file = h
        .upload(&h.user(1, "ada"), named("a.vcf"), vec![vec![7; 64]])
        .await
        .unwrap();
    let mut client = h.internal();
    let request = |ttl_seconds: i64| {
        with_token(
            pb::CreateJobFileLinkRequest {
                id: file.id.clone(),
                ttl_seconds,
            },
            &jobs,
        )
    };
    let link = client
        .create_job_file_link(request(0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(link.expires_at.unwrap().seconds, START / 1000 + 86_400);
    let week = client
        .create_job_file_link(request(604_800))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(week.expires_at.unwrap().seconds, START / 1000 + 604_800);
    let too_long = client
        .create_job_file_link(request(604_801))
        .await
        .unwrap_err();
    assert_eq!(reason(&too_long), ErrorReason::ValidationFailed);
    let token = link
        .url
        .strip_prefix("https://hub.example.org/api/downloads/")
        .unwrap();
    let mut stream = h
        .client()
        .download_file_by_link(pb::DownloadFileByLinkRequest {
            token: token.into(),
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
    assert_eq!(bytes, vec![7; 64]);
    h.stop().await;
}

#[tokio::test]
async fn expired_results_are_refused_then_swept() {
    let h = Harness::start().await;
    let jobs = h.service(ServiceName::Jobs);
    let ada = h.user(1, "ada");
    let expires = START + 60_000;
    let result = upload_job_file(
        &h,
        &jobs,
        pb::JobFileMetadata {
            expires_at: Some(timestamp(expires)),
            ..job_file(1, "job-1", "r.zip")
        },
        &content(PART_PLUS, 1),
    )
    .await
    .unwrap();
    let kept = h
        .upload(&ada, named("in.vcf"), vec![vec![1; 10]])
        .await
        .unwrap();
    assert_eq!(result.expires_at.unwrap(), timestamp(expires));
    h.download(&ada, &result.id, 0, 0).await.unwrap();
    assert_eq!(h.files.sweep_expired().await.unwrap(), 0);

    h.clock.set(expires);
    let refused = h.download(&ada, &result.id, 0, 0).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let error = details(&refused);
    assert_eq!(error.reason, ErrorReason::ResultsExpired);
    assert_eq!(error.metadata["file_id"], result.id);
    assert_eq!(error.metadata["expired_at"], "2024-01-01T00:01:00Z");

    assert_eq!(h.files.sweep_expired().await.unwrap(), 1);
    assert_eq!(h.files.sweep_expired().await.unwrap(), 0);
    let objects = h.stored_objects().await;
    assert_eq!(
        objects.len(),
        1,
        "only the unexpired file's content is left"
    );
    assert!(objects[0].ends_with(&kept.id));
    let listed = h.list(&ada).await;
    assert_eq!(listed.files.len(), 2, "the metadata stays");
    assert_eq!(listed.used_bytes, 10);
    let again = read(&h, &jobs, &result.id, 0, 0).await.unwrap_err();
    assert_eq!(reason(&again), ErrorReason::ResultsExpired);
    h.stop().await;
}

const PART_PLUS: usize = fip_files::objects::PART_SIZE + 1;

#[tokio::test]
async fn a_job_upload_retried_under_its_key_finds_the_stored_file() {
    let h = Harness::start().await;
    let jobs = h.service(ServiceName::Jobs);
    let ada = h.user(1, "ada");
    let keyed = |job: &str, key: &str| pb::JobFileMetadata {
        idempotency_key: key.into(),
        ..job_file(1, job, "chr20.dose.vcf.gz")
    };
    let data = content(MIB + 3, 9);
    let first = upload_job_file(&h, &jobs, keyed("job-1", "chr_20.zip/chr20.dose"), &data)
        .await
        .unwrap();
    // The jobs service retries (its answer was lost, or it died before
    // recording the file): the same file comes back, nothing is stored twice.
    for _ in 0..2 {
        let again = upload_job_file(&h, &jobs, keyed("job-1", "chr_20.zip/chr20.dose"), &data)
            .await
            .unwrap();
        assert_eq!(again, first);
    }
    // Another key, or the same key of another job, is another file.
    let other_key = upload_job_file(&h, &jobs, keyed("job-1", "chr_21.zip/chr21.dose"), &data)
        .await
        .unwrap();
    let other_job = upload_job_file(&h, &jobs, keyed("job-2", "chr_20.zip/chr20.dose"), &data)
        .await
        .unwrap();
    // Without a key every upload is stored.
    let plain = upload_job_file(&h, &jobs, job_file(1, "job-1", "log.txt"), b"a")
        .await
        .unwrap();
    let plain_again = upload_job_file(&h, &jobs, job_file(1, "job-1", "log.txt"), b"a")
        .await
        .unwrap();
    assert_ne!(plain.id, plain_again.id);
    let mut ids: Vec<String> = h.list(&ada).await.files.into_iter().map(|f| f.id).collect();
    ids.sort();
    let mut expected = vec![
        first.id,
        other_key.id,
        other_job.id,
        plain.id,
        plain_again.id,
    ];
    expected.sort();
    assert_eq!(ids, expected);
    h.uploads_settled().await;
    assert_eq!(
        h.stored_objects().await.len(),
        5,
        "no copy left in the object store"
    );

    let too_long = upload_job_file(&h, &jobs, keyed("job-1", &"k".repeat(256)), b"x")
        .await
        .unwrap_err();
    assert_eq!(
        details(&too_long).violations[0].0,
        "metadata.idempotency_key"
    );
    h.stop().await;
}

#[tokio::test]
async fn a_jobs_outputs_are_deleted_together() {
    let h = Harness::with_settings(Settings {
        quota_bytes: 10 * MIB as i64,
        ..default_settings()
    })
    .await;
    let jobs = h.service(ServiceName::Jobs);
    let ada = h.user(1, "ada");
    let input = h
        .upload(&ada, named("in.vcf"), vec![content(100, 1)])
        .await
        .unwrap();
    for name in ["a.zip", "b.zip"] {
        upload_job_file(&h, &jobs, job_file(1, "job-1", name), &content(MIB, 2))
            .await
            .unwrap();
    }
    let kept = upload_job_file(&h, &jobs, job_file(1, "job-2", "c.zip"), &content(MIB, 3))
        .await
        .unwrap();
    let delete = |job: &str, token: &str| {
        let mut client = h.internal();
        let request = with_token(
            pb::DeleteJobOutputsRequest {
                owner_user_id: 1,
                job_id: job.into(),
            },
            token,
        );
        async move { client.delete_job_outputs(request).await }
    };
    let refused = delete("job-1", &ada).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let deleted = delete("job-1", &jobs).await.unwrap().into_inner();
    assert_eq!(deleted.deleted_count, 2);
    assert_eq!(
        delete("job-1", &jobs)
            .await
            .unwrap()
            .into_inner()
            .deleted_count,
        0
    );
    let listed = h.list(&ada).await;
    let mut left: Vec<String> = listed.files.into_iter().map(|f| f.id).collect();
    left.sort();
    let mut expected = vec![input.id, kept.id];
    expected.sort();
    assert_eq!(left, expected, "the input and other jobs' outputs stay");
    assert_eq!(listed.used_bytes, 100 + MIB as i64);
    assert_eq!(h.stored_objects().await.len(), 2);
    h.stop().await;
}
