//! Outputs of a COMPLETE run over HTTP, DRS (both access styles) and file
//! locations, and what they hold.

use noodles::csi::BinningIndex;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::super::sha1::sha1_hex;
use super::super::{Config, OutputLocations, dr2};
use super::{CWL, Client, WORKFLOW, fields, started, vcf};
use crate::fixtures::{VcfSpec, gunzip, is_bgzf};

/// Chromosome 20: unphased, with some missing genotypes.
fn chr20_spec() -> VcfSpec {
    VcfSpec::new(6, 14)
        .chromosomes(["20"])
        .phased(false)
        .missing_rate(0.1)
        .seed(3)
}

/// Submits chr20 (unphased, some missing) and chr21 attachments, polls to
/// COMPLETE and returns the run id and its RunLog.
async fn completed(client: &Client) -> (String, Value) {
    let chr20 = chr20_spec().build().bgzf();
    let id = client
        .submit_ok(
            &fields(json!([{"class": "File", "location": "chr20.vcf.gz"}])),
            &[
                (WORKFLOW, CWL.to_vec()),
                ("chr20.vcf.gz", chr20),
                ("chr21.vcf.gz", vcf("21", 6, 8)),
            ],
        )
        .await;
    assert_eq!(client.poll_to_end(&id).await.last().unwrap(), "COMPLETE");
    let log = client.get_json(&format!("/runs/{id}")).await;
    (id, log)
}

/// Checks a CWL File object against the bytes it stands for.
fn check_file(file: &Value, bytes: &[u8], basename: &str) {
    assert_eq!(file["class"], "File");
    assert_eq!(file["basename"], basename);
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["checksum"], format!("sha1${}", sha1_hex(bytes)));
}

/// Checks the imputed VCF and the info file of chr20.
fn check_contents(imputed: &[u8], info: &[u8]) {
    assert!(is_bgzf(imputed));
    assert!(is_bgzf(info));
    let text = String::from_utf8(gunzip(imputed).unwrap()).unwrap();
    assert!(text.contains("##INFO=<ID=DR2,"));
    assert!(text.contains("##INFO=<ID=AF,"));
    assert!(text.contains("##INFO=<ID=IMP,Number=0,Type=Flag"));
    let header = text.lines().find(|l| l.starts_with("#CHROM")).unwrap();
    let samples: Vec<&str> = header.split('\t').skip(9).collect();
    assert_eq!(samples.len(), 6);
    assert_eq!(samples[0], "SAMPLE0001");
    let records: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(records.len(), 14);
    let input = chr20_spec().build();
    assert!(
        input.text().contains("./."),
        "the input has missing genotypes"
    );
    let positions = input.positions("20");
    for (line, position) in records.iter().zip(&positions) {
        let columns: Vec<&str> = line.split('\t').collect();
        assert_eq!(columns[0], "20");
        assert_eq!(columns[1], position.to_string());
        assert!(
            columns[7].contains(&format!("DR2={:.2}", dr2(*position))),
            "{line}"
        );
        assert!(columns[7].ends_with(";IMP"));
        assert_eq!(columns[8], "GT");
        let mut alternates = 0;
        for genotype in &columns[9..] {
            assert_eq!(genotype.len(), 3, "{genotype}");
            assert_eq!(&genotype[1..2], "|", "{genotype}");
            alternates += genotype.matches('1').count();
        }
        let af = alternates as f64 / (2.0 * samples.len() as f64);
        assert!(columns[7].starts_with(&format!("AF={af:.4};")), "{line}");
    }
    let info = String::from_utf8(gunzip(info).unwrap()).unwrap();
    let sites: Vec<&str> = info.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(sites.len(), 14);
    assert!(info.contains("##INFO=<ID=DR2,"));
    for (site, record) in sites.iter().zip(&records) {
        assert_eq!(site.split('\t').count(), 8);
        assert_eq!(site.split('\t').nth(7), record.split('\t').nth(7));
    }
}

#[tokio::test]
async fn http_outputs_need_the_owners_token() {
    let (server, alice) = started(Config::default()).await;
    let (id, log) = completed(&alice).await;
    let outputs = &log["outputs"];
    assert_eq!(outputs["imputed"].as_array().unwrap().len(), 2);
    assert_eq!(outputs["info"].as_array().unwrap().len(), 2);
    let imputed = &outputs["imputed"][0];
    let location = imputed["location"].as_str().unwrap();
    assert_eq!(
        location,
        format!("{}/files/{id}/chr20.imputed.vcf.gz", server.base_url())
    );
    let bytes = alice.get(location).await.bytes().await.unwrap().to_vec();
    check_file(imputed, &bytes, "chr20.imputed.vcf.gz");
    assert_eq!(imputed["nameroot"], "chr20.imputed.vcf");
    assert_eq!(imputed["nameext"], ".gz");
    let tbi = &imputed["secondaryFiles"][0];
    let tbi_bytes = alice
        .get(tbi["location"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    check_file(tbi, &tbi_bytes, "chr20.imputed.vcf.gz.tbi");
    assert_eq!(&gunzip(&tbi_bytes).unwrap()[..4], b"TBI\x01");
    // A real tabix index of the VCF, not a placeholder.
    let index = noodles::tabix::io::Reader::new(&tbi_bytes[..])
        .read_index()
        .unwrap();
    let names: Vec<String> = index
        .header()
        .unwrap()
        .reference_sequence_names()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["20"]);
    let info = &outputs["info"][0];
    let info_bytes = alice
        .get(info["location"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap()
        .to_vec();
    check_file(info, &info_bytes, "chr20.info.gz");
    check_contents(&bytes, &info_bytes);
    assert_eq!(outputs["imputed"][1]["basename"], "chr21.imputed.vcf.gz");

    // Without a token 401, another user's 403.
    assert_eq!(Client::new(&server, None).get(location).await.status(), 401);
    let bob = Client::new(&server, Some(&server.issue_token("bob")));
    assert_eq!(bob.get(location).await.status(), 403);
    assert_eq!(
        alice.get(&format!("{location}.missing")).await.status(),
        404
    );
}

#[tokio::test]
async fn anonymous_files_need_no_token() {
    let (server, alice) = started(Config {
        anonymous_files: true,
        ..Config::default()
    })
    .await;
    let (_, log) = completed(&alice).await;
    let location = log["outputs"]["imputed"][0]["location"].as_str().unwrap();
    let response = Client::new(&server, None).get(location).await;
    assert_eq!(response.status(), 200);
    assert!(is_bgzf(&response.bytes().await.unwrap()));
}

/// Resolves a `drs://` location through the object (and access) calls.
async fn resolve_drs(client: &Client, server_base: &str, location: &str) -> (Value, Vec<u8>) {
    let authority = server_base.trim_start_matches("http://");
    let object_id = location
        .strip_prefix(&format!("drs://{authority}/"))
        .unwrap_or_else(|| panic!("{location}"));
    let object = client
        .get_json(&format!("{server_base}/ga4gh/drs/v1/objects/{object_id}"))
        .await;
    assert_eq!(object["id"], object_id);
    assert_eq!(object["self_uri"], location);
    let method = &object["access_methods"][0];
    assert_eq!(method["type"], "http");
    let url = match method["access_url"]["url"].as_str() {
        Some(url) => url.to_owned(),
        None => {
            let access_id = method["access_id"].as_str().unwrap();
            let access = client
                .get_json(&format!(
                    "{server_base}/ga4gh/drs/v1/objects/{object_id}/access/{access_id}"
                ))
                .await;
            access["url"].as_str().unwrap().to_owned()
        }
    };
    // A presigned URL: no header needed.
    let anonymous = reqwest::get(&url).await.unwrap();
    assert_eq!(anonymous.status(), 200, "{url}");
    let bytes = anonymous.bytes().await.unwrap().to_vec();
    assert_eq!(object["size"], bytes.len());
    assert_eq!(object["checksums"][0]["type"], "sha-256");
    assert_eq!(
        object["checksums"][0]["checksum"],
        hex::encode(Sha256::digest(&bytes))
    );
    (object, bytes)
}

#[tokio::test]
async fn drs_outputs_resolve_through_the_access_call() {
    let (server, alice) = started(Config {
        output_locations: OutputLocations::Drs,
        ..Config::default()
    })
    .await;
    let (_, log) = completed(&alice).await;
    let imputed = &log["outputs"]["imputed"][0];
    let location = imputed["location"].as_str().unwrap();
    assert!(location.starts_with("drs://127.0.0.1:"));
    let (object, bytes) = resolve_drs(&alice, server.base_url(), location).await;
    assert!(object["access_methods"][0]["access_url"].is_null());
    check_file(imputed, &bytes, "chr20.imputed.vcf.gz");
    let info = &log["outputs"]["info"][0];
    let (_, info_bytes) = resolve_drs(
        &alice,
        server.base_url(),
        info["location"].as_str().unwrap(),
    )
    .await;
    check_contents(&bytes, &info_bytes);
    let tbi = imputed["secondaryFiles"][0]["location"].as_str().unwrap();
    resolve_drs(&alice, server.base_url(), tbi).await;

    // DRS calls need the owner's token; unknown objects and access ids 404.
    let object_id = object["id"].as_str().unwrap();
    let object_url = format!("{}/ga4gh/drs/v1/objects/{object_id}", server.base_url());
    let response = Client::new(&server, None).get(&object_url).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap()["status_code"], 401);
    let bob = Client::new(&server, Some(&server.issue_token("bob")));
    assert_eq!(bob.get(&object_url).await.status(), 403);
    assert_eq!(
        bob.get(&format!("{object_url}/access/a1")).await.status(),
        403
    );
    assert_eq!(
        alice.get(&format!("{object_url}/access/a9")).await.status(),
        404
    );
    let unknown = format!("{}/ga4gh/drs/v1/objects/unknown", server.base_url());
    assert_eq!(alice.get(&unknown).await.status(), 404);
    // A presigned URL with a wrong signature needs a token again.
    let access = alice.get_json(&format!("{object_url}/access/a1")).await;
    let forged = access["url"]
        .as_str()
        .unwrap()
        .replace("signature=", "signature=0");
    assert_eq!(reqwest::get(&forged).await.unwrap().status(), 401);
}

#[tokio::test]
async fn drs_access_urls_can_be_inline() {
    let (server, alice) = started(Config {
        output_locations: OutputLocations::Drs,
        drs_inline_access_url: true,
        ..Config::default()
    })
    .await;
    let (_, log) = completed(&alice).await;
    let imputed = &log["outputs"]["imputed"][0];
    let (object, bytes) = resolve_drs(
        &alice,
        server.base_url(),
        imputed["location"].as_str().unwrap(),
    )
    .await;
    assert!(object["access_methods"][0]["access_url"]["url"].is_string());
    assert!(object["access_methods"][0].get("access_id").is_none());
    check_file(imputed, &bytes, "chr20.imputed.vcf.gz");
}

#[tokio::test]
async fn file_outputs_are_written_under_the_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, alice) = started(Config {
        output_locations: OutputLocations::File(dir.path().to_path_buf()),
        ..Config::default()
    })
    .await;
    let (id, log) = completed(&alice).await;
    let imputed = &log["outputs"]["imputed"][0];
    let location = imputed["location"].as_str().unwrap();
    let path = location.strip_prefix("file://").unwrap();
    assert!(path.starts_with('/'));
    let expected = std::fs::canonicalize(dir.path())
        .unwrap()
        .join(&id)
        .join("chr20.imputed.vcf.gz");
    assert_eq!(std::path::Path::new(path), expected);
    assert_eq!(imputed["path"], path);
    let bytes = std::fs::read(path).unwrap();
    check_file(imputed, &bytes, "chr20.imputed.vcf.gz");
    let info_path = log["outputs"]["info"][0]["location"]
        .as_str()
        .unwrap()
        .strip_prefix("file://")
        .unwrap()
        .to_owned();
    check_contents(&bytes, &std::fs::read(info_path).unwrap());
    let tbi = imputed["secondaryFiles"][0]["location"].as_str().unwrap();
    assert!(
        std::fs::metadata(tbi.strip_prefix("file://").unwrap())
            .unwrap()
            .len()
            > 0
    );
    let service = alice.get_json("/service-info").await;
    assert!(
        service["supported_filesystem_protocols"]
            .as_array()
            .unwrap()
            .contains(&json!("file"))
    );
}

#[test]
fn dr2_is_a_deterministic_two_decimal_fraction() {
    let values: Vec<f64> = (60_000..61_000).map(dr2).collect();
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    assert!(
        values
            .iter()
            .all(|v| ((v * 100.0).round() - v * 100.0).abs() < 1e-9)
    );
    assert_eq!(dr2(60_123), dr2(60_123));
    let distinct: std::collections::BTreeSet<u64> =
        values.iter().map(|v| (v * 100.0).round() as u64).collect();
    assert!(distinct.len() > 50);
}
