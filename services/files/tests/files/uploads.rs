//! Uploads: round trips, chunk boundaries, limits, and that nothing is kept
//! from an upload that fails or breaks off.

use fip_files::files::Settings;
use fip_files::objects::{CHUNK_SIZE, PART_SIZE};
use fip_kit::mesh::{Peers, ServiceName};
use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::files::v1 as pb;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::harness::*;

#[tokio::test]
async fn upload_then_download_is_byte_identical_across_chunk_boundaries() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    // Odd sizes on both sides of the 1 MiB download chunk and the 5 MiB
    // object part: a small file (one put) and a large one (multipart).
    for (len, sizes) in [
        (CHUNK_SIZE + 17, vec![1, 4096, MIB]),
        (2 * PART_SIZE + 3 * MIB + 5, vec![3 * MIB, 1, 777_777, MIB]),
    ] {
        let data = content(len, len as u64);
        let file = h
            .upload(
                &ada,
                pb::UploadFileMetadata {
                    name: "runs/2024/cohort.vcf.gz".into(),
                    content_type: "application/gzip".into(),
                    expected_size_bytes: Some(len as i64),
                    expected_sha256: sha256_hex(&data).to_uppercase(),
                    ..Default::default()
                },
                split(&data, &sizes),
            )
            .await
            .unwrap();
        assert_eq!(file.name, "cohort.vcf.gz", "directory parts are stripped");
        assert_eq!(file.size_bytes, len as i64);
        assert_eq!(file.sha256, sha256_hex(&data));
        assert_eq!(file.owner_user_id, 1);
        assert_eq!(file.kind, pb::FileKind::Input as i32);
        assert_eq!(file.content_type, "application/gzip");
        assert_eq!(file.job_id, "");
        assert!(file.created_at.is_some() && file.expires_at.is_none());
        assert!(uuid::Uuid::try_parse(&file.id).is_ok());

        let got = h
            .client()
            .get_file(with_token(
                pb::GetFileRequest {
                    id: file.id.clone(),
                },
                &ada,
            ))
            .await
            .unwrap()
            .into_inner()
            .file
            .unwrap();
        assert_eq!(got, file);

        let (metadata, chunks) = h.download(&ada, &file.id, 0, 0).await.unwrap();
        assert_eq!(metadata, file);
        assert!(
            chunks
                .iter()
                .all(|c| !c.is_empty() && c.len() <= CHUNK_SIZE)
        );
        let back = chunks.concat();
        assert_eq!(back.len(), len);
        assert_eq!(sha256_hex(&back), file.sha256);
        assert!(back == data);

        // Ranges: from inside, clipped at the end, and empty at the end.
        let (_, part) = h.download(&ada, &file.id, 5, MIB as i64).await.unwrap();
        assert!(part.concat() == data[5..5 + MIB]);
        let (_, tail) = h
            .download(&ada, &file.id, len as i64 - 3, 100)
            .await
            .unwrap();
        assert_eq!(tail.concat(), data[len - 3..]);
        let (_, none) = h.download(&ada, &file.id, len as i64, 0).await.unwrap();
        assert!(none.is_empty());
        let beyond = h
            .download(&ada, &file.id, len as i64 + 1, 0)
            .await
            .unwrap_err();
        assert_eq!(reason(&beyond), ErrorReason::ValidationFailed);
        assert_eq!(details(&beyond).violations[0].0, "offset");
    }
    assert_eq!(h.stored_objects().await.len(), 2, "exactly the two objects");
    assert_eq!(h.list(&ada).await.used_bytes, {
        let sizes = [CHUNK_SIZE + 17, 2 * PART_SIZE + 3 * MIB + 5];
        sizes.iter().sum::<usize>() as i64
    });
    h.stop().await;
}

#[tokio::test]
async fn an_empty_file_is_a_file() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let file = h
        .upload(
            &ada,
            pb::UploadFileMetadata {
                expected_size_bytes: Some(0),
                ..named("empty.txt")
            },
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(file.size_bytes, 0);
    assert_eq!(file.sha256, sha256_hex(b""));
    assert_eq!(file.content_type, "application/octet-stream");
    let (metadata, chunks) = h.download(&ada, &file.id, 0, 0).await.unwrap();
    assert_eq!(metadata.id, file.id);
    assert!(chunks.is_empty());
    assert_eq!(h.stored_objects().await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn integrity_failures_keep_nothing() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let small = content(1000, 1);
    let large = content(PART_SIZE + 2 * MIB, 2);
    let wrong_sha = sha256_hex(b"something else");
    let cases = [
        // (data, declared size, declared sha)
        (small.clone(), None, wrong_sha.clone()),
        (large.clone(), None, wrong_sha.clone()),
        (small.clone(), Some(999), String::new()),
        (large.clone(), Some(large.len() as i64 + 1), String::new()),
        (large.clone(), Some(MIB as i64), sha256_hex(&large)),
    ];
    for (data, expected_size_bytes, expected_sha256) in cases {
        let status = h
            .upload(
                &ada,
                pb::UploadFileMetadata {
                    expected_size_bytes,
                    expected_sha256: expected_sha256.clone(),
                    ..named("x.vcf")
                },
                split(&data, &[MIB]),
            )
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let error = details(&status);
        assert_eq!(
            error.reason,
            ErrorReason::IntegrityCheckFailed,
            "{status:?}"
        );
        if let Some(size) = expected_size_bytes {
            assert_eq!(error.metadata["expected_size_bytes"], size.to_string());
        }
        if !expected_sha256.is_empty() && expected_size_bytes.is_none() {
            assert_eq!(error.metadata["expected_sha256"], expected_sha256);
            assert_eq!(error.metadata["actual_sha256"], sha256_hex(&data));
        }
        h.uploads_settled().await;
        assert!(
            h.stored_objects().await.is_empty(),
            "{:?}",
            h.stored_objects().await
        );
    }
    let listed = h.list(&ada).await;
    assert!(listed.files.is_empty());
    assert_eq!(listed.used_bytes, 0);
    h.stop().await;
}

#[tokio::test]
async fn a_stream_that_ends_short_of_its_declared_size_keeps_nothing() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let data = content(PART_SIZE + MIB, 3);
    let status = h
        .upload(
            &ada,
            pb::UploadFileMetadata {
                expected_size_bytes: Some(data.len() as i64 * 2),
                ..named("short.vcf")
            },
            split(&data, &[MIB]),
        )
        .await
        .unwrap_err();
    assert_eq!(reason(&status), ErrorReason::IntegrityCheckFailed);
    assert_eq!(
        details(&status).metadata["actual_size_bytes"],
        data.len().to_string()
    );
    h.uploads_settled().await;
    assert!(h.stored_objects().await.is_empty());
    assert!(h.list(&ada).await.files.is_empty());
    h.stop().await;
}

#[tokio::test]
async fn a_broken_off_upload_leaves_nothing_behind() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let (channel, connection) = h.severable_channel().await;
    let (tx, call) = open_upload(channel, &ada);
    tx.send(pb::UploadFileRequest {
        data: Some(pb::upload_file_request::Data::Metadata(named("big.vcf"))),
    })
    .await
    .unwrap();
    let sent = PART_SIZE + MIB;
    for chunk in split(&content(sent, 4), &[MIB]) {
        tx.send(pb::UploadFileRequest {
            data: Some(pb::upload_file_request::Data::Chunk(chunk.into())),
        })
        .await
        .unwrap();
    }
    // Once the server holds more than a part, the object is being staged.
    h.files
        .upload_activity()
        .wait_for(|a| a.active == 1 && a.received_bytes >= sent as u64)
        .await
        .unwrap();
    assert_eq!(
        h.stored_objects().await.len(),
        1,
        "a staged part exists mid-upload"
    );
    assert!(
        h.list(&ada).await.files.is_empty(),
        "nothing visible mid-upload"
    );

    // The connection breaks mid-stream (the stream itself never ends).
    connection.shutdown(std::net::Shutdown::Both).unwrap();
    h.uploads_settled().await;
    assert!(call.await.unwrap().is_err());
    assert!(
        h.stored_objects().await.is_empty(),
        "{:?}",
        h.stored_objects().await
    );
    assert!(h.list(&ada).await.files.is_empty());
    drop(tx);
    h.stop().await;
}

/// An upload answers after its last byte: on the mesh's streaming channel
/// it may take longer than the call timeout, which abandons the same upload
/// on the call channel.
#[tokio::test]
async fn an_upload_on_the_streaming_channel_outlives_the_call_timeout() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let peers = Peers::with_call_timeout(
        [(ServiceName::Files, h.url().to_string())],
        std::time::Duration::from_millis(200),
    )
    .unwrap();
    let (timed_tx, timed) = open_upload(peers.channel(ServiceName::Files).unwrap(), &ada);
    let (streaming_tx, streaming) =
        open_upload(peers.streaming_channel(ServiceName::Files).unwrap(), &ada);
    let data = content(2 * MIB, 6);
    let (first, second) = data.split_at(MIB);
    for tx in [&timed_tx, &streaming_tx] {
        tx.send(pb::UploadFileRequest {
            data: Some(pb::upload_file_request::Data::Metadata(named("slow.vcf"))),
        })
        .await
        .unwrap();
        tx.send(pb::UploadFileRequest {
            data: Some(pb::upload_file_request::Data::Chunk(first.to_vec().into())),
        })
        .await
        .unwrap();
    }
    h.files
        .upload_activity()
        .wait_for(|a| a.active == 2)
        .await
        .unwrap();
    // The call channel gives up with the stream still open ...
    let abandoned = timed.await.unwrap().unwrap_err();
    assert!(
        abandoned.message().contains("Timeout expired"),
        "{abandoned:?}"
    );
    // ... while the upload begun with it on the streaming channel, open
    // for longer than the timeout by now, completes.
    streaming_tx
        .send(pb::UploadFileRequest {
            data: Some(pb::upload_file_request::Data::Chunk(second.to_vec().into())),
        })
        .await
        .unwrap();
    drop(streaming_tx);
    let stored = streaming.await.unwrap().unwrap().into_inner().file.unwrap();
    assert_eq!(stored.size_bytes, data.len() as i64);
    // The abandoned upload was reset by the client half-way: the service
    // must not take that for its end.
    h.uploads_settled().await;
    let names: Vec<String> = h
        .list(&ada)
        .await
        .files
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["slow.vcf"], "only the completed upload is kept");
    drop(timed_tx);
    h.stop().await;
}

/// One gRPC message on the wire: uncompressed flag, length, bytes.
fn grpc_frame(message: &impl prost::Message) -> bytes::Bytes {
    let body = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + body.len());
    frame.push(0);
    frame.extend((body.len() as u32).to_be_bytes());
    frame.extend(body);
    frame.into()
}

#[tokio::test]
async fn an_upload_whose_client_stream_fails_leaves_nothing_behind() {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    // A raw HTTP/2 client, so that the request body itself can fail.
    let socket = tokio::net::TcpStream::connect(h.addr()).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(socket))
            .await
            .unwrap();
    tokio::spawn(connection);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<bytes::Bytes>, std::io::Error>>(4);
    let request = http::Request::post(format!(
        "http://{}/fip.files.v1.FileService/UploadFile",
        h.addr()
    ))
    .header("content-type", "application/grpc")
    .header("te", "trailers")
    .header("authorization", format!("Bearer {ada}"))
    .body(StreamBody::new(ReceiverStream::new(rx)))
    .unwrap();
    let call = tokio::spawn(sender.send_request(request));
    let metadata = pb::UploadFileRequest {
        data: Some(pb::upload_file_request::Data::Metadata(named(
            "failing.vcf",
        ))),
    };
    tx.send(Ok(Frame::data(grpc_frame(&metadata))))
        .await
        .unwrap();
    let sent = PART_SIZE + MIB;
    for chunk in split(&content(sent, 5), &[MIB]) {
        let message = pb::UploadFileRequest {
            data: Some(pb::upload_file_request::Data::Chunk(chunk.into())),
        };
        tx.send(Ok(Frame::data(grpc_frame(&message))))
            .await
            .unwrap();
    }
    h.files
        .upload_activity()
        .wait_for(|a| a.active == 1 && a.received_bytes >= sent as u64)
        .await
        .unwrap();
    assert_eq!(
        h.stored_objects().await.len(),
        1,
        "a staged part exists mid-upload"
    );

    // The client's body fails: its stream is reset.
    tx.send(Err(std::io::Error::other("the client's source failed")))
        .await
        .unwrap();
    h.uploads_settled().await;
    assert!(
        h.stored_objects().await.is_empty(),
        "{:?}",
        h.stored_objects().await
    );
    assert!(h.list(&ada).await.files.is_empty());
    drop(call);
    h.stop().await;
}

#[tokio::test]
async fn limits_and_quota_are_enforced() {
    let h = Harness::with_settings(Settings {
        max_upload_bytes: 2 * MIB as i64,
        quota_bytes: 3 * MIB as i64,
        public_base_url: None,
    })
    .await;
    let ada = h.user(1, "ada");
    let big = content(2 * MIB + 1, 5);

    // Declared too large: refused before any byte is sent.
    let declared = h
        .upload(
            &ada,
            pb::UploadFileMetadata {
                expected_size_bytes: Some(big.len() as i64),
                ..named("big.vcf")
            },
            vec![],
        )
        .await
        .unwrap_err();
    let error = details(&declared);
    assert_eq!(error.reason, ErrorReason::FileTooLarge);
    assert_eq!(error.metadata["max_size_bytes"], (2 * MIB).to_string());
    assert_eq!(error.metadata["size_bytes"], big.len().to_string());

    // Undeclared and too large: refused as the bytes arrive.
    let streamed = h
        .upload(&ada, named("big.vcf"), split(&big, &[MIB]))
        .await
        .unwrap_err();
    assert_eq!(reason(&streamed), ErrorReason::FileTooLarge);

    // The quota counts what is stored.
    h.upload(&ada, named("a.vcf"), vec![content(2 * MIB, 6)])
        .await
        .unwrap();
    let over = h
        .upload(&ada, named("b.vcf"), vec![content(MIB + 1, 7)])
        .await
        .unwrap_err();
    assert_eq!(over.code(), Code::ResourceExhausted);
    let error = details(&over);
    assert_eq!(error.reason, ErrorReason::QuotaExceeded);
    assert_eq!(error.metadata["quota"], "storage_bytes");
    assert_eq!(error.metadata["limit"], (3 * MIB).to_string());
    assert_eq!(error.metadata["used"], (2 * MIB).to_string());
    // Another user has a quota of their own.
    h.upload(&h.user(2, "bob"), named("b.vcf"), vec![content(MIB + 1, 7)])
        .await
        .unwrap();

    let listed = h.list(&ada).await;
    assert_eq!(listed.files.len(), 1);
    assert_eq!(listed.used_bytes, 2 * MIB as i64);
    assert_eq!(listed.quota_bytes, 3 * MIB as i64);
    h.uploads_settled().await;
    assert_eq!(h.stored_objects().await.len(), 2);
    h.stop().await;
}

#[tokio::test]
async fn malformed_streams_are_refused() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let chunk = |bytes: Vec<u8>| pb::UploadFileRequest {
        data: Some(pb::upload_file_request::Data::Chunk(bytes.into())),
    };
    let metadata = |m: pb::UploadFileMetadata| pb::UploadFileRequest {
        data: Some(pb::upload_file_request::Data::Metadata(m)),
    };
    let cases: Vec<(Vec<pb::UploadFileRequest>, &str)> = vec![
        (vec![chunk(vec![1, 2, 3])], "metadata"),
        (vec![], "metadata"),
        (
            vec![metadata(named("a")), chunk(vec![1]), metadata(named("b"))],
            "metadata",
        ),
        (
            vec![metadata(named("a")), pb::UploadFileRequest { data: None }],
            "data",
        ),
        (
            vec![metadata(named("a")), chunk(vec![0; 3 * MIB + 1])],
            "chunk",
        ),
        (vec![metadata(named("a")), chunk(vec![0; 5 * MIB])], "chunk"),
        (
            vec![metadata(pb::UploadFileMetadata {
                kind: pb::FileKind::Output as i32,
                ..named("a")
            })],
            "metadata.kind",
        ),
        (vec![metadata(named("/tmp/"))], "metadata.name"),
        (
            vec![metadata(pb::UploadFileMetadata {
                expected_sha256: "abc".into(),
                ..named("a")
            })],
            "metadata.expected_sha256",
        ),
        (
            vec![metadata(pb::UploadFileMetadata {
                kind: 42,
                ..named("a")
            })],
            "metadata.kind",
        ),
    ];
    for (messages, field) in cases {
        let status = h.upload_messages(&ada, messages).await.unwrap_err();
        let error = details(&status);
        assert_eq!(error.reason, ErrorReason::ValidationFailed, "{status:?}");
        assert_eq!(error.violations[0].0, field, "{status:?}");
    }
    h.uploads_settled().await;
    assert!(h.stored_objects().await.is_empty());
    assert!(h.list(&ada).await.files.is_empty());

    // No token at all.
    let anonymous = h
        .client()
        .upload_file(tokio_stream::iter(vec![metadata(named("a"))]))
        .await
        .unwrap_err();
    assert_eq!(reason(&anonymous), ErrorReason::TokenMissing);
    h.stop().await;
}

/// A quota of `quota` bytes with no upload limit.
async fn with_quota(quota: usize) -> Harness {
    Harness::with_settings(Settings {
        quota_bytes: quota as i64,
        ..default_settings()
    })
    .await
}

fn chunk_message(bytes: Vec<u8>) -> pb::UploadFileRequest {
    pb::UploadFileRequest {
        data: Some(pb::upload_file_request::Data::Chunk(bytes.into())),
    }
}

fn metadata_message(metadata: pb::UploadFileMetadata) -> pb::UploadFileRequest {
    pb::UploadFileRequest {
        data: Some(pb::upload_file_request::Data::Metadata(metadata)),
    }
}

/// Splits answers into stored files and refusals, checking that every
/// refusal is the quota's.
fn stored_or_over_quota(answers: Vec<UploadAnswer>) -> Vec<pb::File> {
    let mut stored = Vec::new();
    for answer in answers {
        match answer {
            Ok(response) => stored.push(response.into_inner().file.unwrap()),
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
                assert_eq!(reason(&status), ErrorReason::QuotaExceeded);
            }
        }
    }
    stored
}

#[tokio::test]
async fn concurrent_uploads_of_declared_size_share_one_quota() {
    // Room for one 3 MiB file: before uploads reserved their bytes, all
    // eight read "nothing used" at their start and were all stored.
    let h = with_quota(4 * MIB).await;
    let ada = h.user(1, "ada");
    let data = content(3 * MIB, 11);
    let uploads = (0..8).map(|n| {
        let (tx, call) = open_upload(h.channel.clone(), &ada);
        let data = data.clone();
        tokio::spawn(async move {
            let metadata = pb::UploadFileMetadata {
                expected_size_bytes: Some(data.len() as i64),
                ..named(&format!("part-{n}.vcf"))
            };
            let mut messages = vec![metadata_message(metadata)];
            messages.extend(split(&data, &[256 * 1024]).into_iter().map(chunk_message));
            for message in messages {
                // A refused upload is answered before its last chunk.
                if tx.send(message).await.is_err() {
                    break;
                }
            }
            drop(tx);
            call.await.unwrap()
        })
    });
    let answers = futures::future::join_all(uploads)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let stored = stored_or_over_quota(answers);
    assert_eq!(stored.len(), 1, "exactly the upload that fits is stored");
    h.uploads_settled().await;
    let listed = h.list(&ada).await;
    assert_eq!(listed.files.len(), 1);
    assert_eq!(listed.used_bytes, 3 * MIB as i64);
    let usage = h.files.store().usage(1).await.unwrap();
    assert_eq!(usage.used_bytes, 3 * MIB as i64);
    assert_eq!(usage.reserved_bytes, 0, "refused uploads hold nothing");
    assert_eq!(h.stored_objects().await.len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn concurrent_uploads_of_unknown_size_reserve_as_bytes_arrive() {
    let h = with_quota(4 * MIB).await;
    let ada = h.user(1, "ada");
    let first = 256 * 1024;
    let data = content(3 * MIB, 12);
    let mut senders = Vec::new();
    let mut calls = Vec::new();
    for n in 0..8 {
        let (tx, call) = open_upload(h.channel.clone(), &ada);
        tx.send(metadata_message(named(&format!("part-{n}.vcf"))))
            .await
            .unwrap();
        tx.send(chunk_message(data[..first].to_vec()))
            .await
            .unwrap();
        senders.push(tx);
        calls.push(call);
    }
    // All eight are under way at once, each holding its first bytes.
    h.files
        .upload_activity()
        .wait_for(|a| a.active == 8 && a.received_bytes >= 8 * first as u64)
        .await
        .unwrap();
    assert_eq!(
        h.files.store().usage(1).await.unwrap().reserved_bytes,
        8 * first as i64
    );
    let rest = split(&data[first..], &[256 * 1024]);
    let finishing = senders.into_iter().zip(calls).map(|(tx, call)| {
        let rest = rest.clone();
        tokio::spawn(async move {
            for chunk in rest {
                if tx.send(chunk_message(chunk)).await.is_err() {
                    break;
                }
            }
            drop(tx);
            call.await.unwrap()
        })
    });
    let answers = futures::future::join_all(finishing)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let stored = stored_or_over_quota(answers);
    assert!(stored.len() <= 1, "{} stored of 3 MiB each", stored.len());
    h.uploads_settled().await;
    let used = (stored.len() * 3 * MIB) as i64;
    assert_eq!(h.list(&ada).await.used_bytes, used);
    let usage = h.files.store().usage(1).await.unwrap();
    assert_eq!((usage.used_bytes, usage.reserved_bytes), (used, 0));
    // What the refused uploads held is free again.
    let room = 4 * MIB - stored.len() * 3 * MIB;
    h.upload(&ada, named("fits.vcf"), split(&content(room, 13), &[MIB]))
        .await
        .unwrap();
    h.stop().await;
}

#[tokio::test]
async fn uploads_that_break_off_give_their_bytes_back() {
    let h = with_quota(4 * MIB).await;
    let ada = h.user(1, "ada");
    let held = 3 * MIB;
    // One upload on a connection that is cut, one whose client drops the call.
    let (severable, connection) = h.severable_channel().await;
    let (cut_tx, cut_call) = open_upload(severable, &ada);
    let (dropped_tx, dropped_call) = open_upload(h.channel.clone(), &ada);
    for (tx, n) in [(&cut_tx, 1), (&dropped_tx, 2)] {
        tx.send(metadata_message(named(&format!("half-{n}.vcf"))))
            .await
            .unwrap();
        let size = if n == 1 { held } else { MIB / 2 };
        for chunk in split(&content(size, n), &[MIB]) {
            tx.send(chunk_message(chunk)).await.unwrap();
        }
    }
    let all = (held + MIB / 2) as u64;
    h.files
        .upload_activity()
        .wait_for(|a| a.active == 2 && a.received_bytes >= all)
        .await
        .unwrap();
    assert_eq!(
        h.files.store().usage(1).await.unwrap().reserved_bytes,
        all as i64
    );
    // Meanwhile their bytes are taken: 1 MiB more does not fit.
    let over = h
        .upload(&ada, named("more.vcf"), vec![content(MIB, 3)])
        .await
        .unwrap_err();
    assert_eq!(reason(&over), ErrorReason::QuotaExceeded);

    connection.shutdown(std::net::Shutdown::Both).unwrap();
    dropped_call.abort();
    h.uploads_settled().await;
    assert!(cut_call.await.unwrap().is_err());
    let usage = h.files.store().usage(1).await.unwrap();
    assert_eq!((usage.used_bytes, usage.reserved_bytes), (0, 0));
    // The whole quota is free again.
    h.upload(
        &ada,
        named("whole.vcf"),
        split(&content(4 * MIB, 4), &[MIB]),
    )
    .await
    .unwrap();
    assert_eq!(h.list(&ada).await.used_bytes, 4 * MIB as i64);
    drop((cut_tx, dropped_tx));
    h.stop().await;
}
