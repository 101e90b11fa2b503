//! Signed download links: valid, tampered, expired (on the test clock), and
//! bound to their file.

use fip_kit::testing::with_token;
use fip_proto::common::v1::ErrorReason;
use fip_proto::files::v1 as pb;
use tonic::Code;

use crate::harness::*;

async fn link(
    h: &Harness,
    token: &str,
    id: &str,
    ttl_seconds: i64,
) -> pb::CreateDownloadLinkResponse {
    h.client()
        .create_download_link(with_token(
            pb::CreateDownloadLinkRequest {
                id: id.into(),
                ttl_seconds,
            },
            token,
        ))
        .await
        .unwrap()
        .into_inner()
}

/// Downloads by link token, without any other credential.
async fn fetch(
    h: &Harness,
    token: &str,
    offset: i64,
) -> Result<(pb::File, Vec<u8>), tonic::Status> {
    let mut stream = h
        .client()
        .download_file_by_link(pb::DownloadFileByLinkRequest {
            token: token.into(),
            offset,
            length: 0,
        })
        .await?
        .into_inner();
    let mut metadata = None;
    let mut bytes = Vec::new();
    while let Some(message) = stream.message().await? {
        match message.data {
            Some(pb::download_file_by_link_response::Data::Metadata(m)) => metadata = Some(m),
            Some(pb::download_file_by_link_response::Data::Chunk(c)) => bytes.extend(c),
            None => panic!("an empty message"),
        }
    }
    Ok((metadata.unwrap(), bytes))
}

fn token_of(url: &str) -> &str {
    url.strip_prefix("/api/downloads/")
        .unwrap_or_else(|| panic!("not a hub download path: {url}"))
}

#[tokio::test]
async fn a_signed_link_downloads_without_a_token_until_it_expires() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let data = content(2 * MIB + 3, 11);
    let file = h
        .upload(&ada, named("a.vcf"), split(&data, &[MIB]))
        .await
        .unwrap();
    let created = link(&h, &ada, &file.id, 0).await;
    let expires_at = created.expires_at.unwrap();
    assert_eq!(
        expires_at.seconds,
        START / 1000 + 300,
        "300 seconds by default"
    );
    let token = token_of(&created.url).to_string();
    let (metadata, bytes) = fetch(&h, &token, 0).await.unwrap();
    assert_eq!(metadata, file);
    assert_eq!(sha256_hex(&bytes), file.sha256);
    let (_, tail) = fetch(&h, &token, 2 * MIB as i64).await.unwrap();
    assert_eq!(tail, data[2 * MIB..]);

    // One second before the end it still works; at the end it has expired.
    h.clock.advance(299_999);
    fetch(&h, &token, 0).await.unwrap();
    h.clock.advance(1);
    let expired = fetch(&h, &token, 0).await.unwrap_err();
    assert_eq!(expired.code(), Code::Unauthenticated);
    let error = details(&expired);
    assert_eq!(error.reason, ErrorReason::TokenExpired);
    assert_eq!(error.metadata["token_kind"], "download_link");
    assert_eq!(error.metadata["expired_at"], "2024-01-01T00:05:00Z");
    h.stop().await;
}

#[tokio::test]
async fn tampered_links_are_invalid() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let mine = h
        .upload(&ada, named("a.vcf"), vec![vec![1; 10]])
        .await
        .unwrap();
    let theirs = h
        .upload(&h.user(2, "bob"), named("b.vcf"), vec![vec![2; 10]])
        .await
        .unwrap();
    let token = token_of(&link(&h, &ada, &mine.id, 60).await.url).to_string();
    let (id, rest) = token.split_once('.').unwrap();
    let (expiry, tag) = rest.split_once('.').unwrap();
    let mut flipped = tag.to_string().into_bytes();
    flipped[3] = if flipped[3] == b'A' { b'B' } else { b'A' };
    let tampered = [
        // Another file with the same signature.
        format!("{}.{expiry}.{tag}", theirs.id),
        // A later expiry.
        format!("{id}.{}.{tag}", expiry.parse::<i64>().unwrap() + 3600),
        // A changed signature.
        format!("{id}.{expiry}.{}", String::from_utf8(flipped).unwrap()),
        format!("{id}.{expiry}"),
        String::new(),
        "garbage".into(),
    ];
    for bad in tampered {
        let status = fetch(&h, &bad, 0).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{bad}");
        let error = details(&status);
        assert_eq!(error.reason, ErrorReason::TokenInvalid, "{bad}");
        assert_eq!(error.metadata["token_kind"], "download_link");
    }
    fetch(&h, &token, 0).await.unwrap();
    h.stop().await;
}

#[tokio::test]
async fn links_are_bounded_and_die_with_their_file() {
    let h = Harness::start().await;
    let ada = h.user(1, "ada");
    let file = h
        .upload(&ada, named("a.vcf"), vec![vec![1; 10]])
        .await
        .unwrap();
    for ttl_seconds in [-1, 3601] {
        let status = h
            .client()
            .create_download_link(with_token(
                pb::CreateDownloadLinkRequest {
                    id: file.id.clone(),
                    ttl_seconds,
                },
                &ada,
            ))
            .await
            .unwrap_err();
        assert_eq!(reason(&status), ErrorReason::ValidationFailed);
        assert_eq!(details(&status).violations[0].0, "ttl_seconds");
    }
    let created = link(&h, &ada, &file.id, 3600).await;
    assert_eq!(created.expires_at.unwrap().seconds, START / 1000 + 3600);
    h.client()
        .delete_file(with_token(
            pb::DeleteFileRequest {
                id: file.id.clone(),
            },
            &ada,
        ))
        .await
        .unwrap();
    let status = fetch(&h, token_of(&created.url), 0).await.unwrap_err();
    assert_eq!(reason(&status), ErrorReason::NotFound);
    h.stop().await;
}
