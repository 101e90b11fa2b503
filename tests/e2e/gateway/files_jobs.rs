//! The gateway's special REST routes, against the real files, jobs and
//! notify services: streamed multipart uploads, downloads with ranges and
//! signed links, jobs submitted as the original REST surface's multipart
//! form (a missing credential answered in its shape), and server streams
//! as Server-Sent Events and NDJSON.

use std::time::Duration;

use fip_emulators::cloudgene::{self, Emulator};
use fip_emulators::fixtures::VcfSpec;
use fip_kit::auth::Role;
use fip_kit::testing::with_token;
use fip_proto::common::v1::GenomeBuild;
use fip_proto::files::v1::file_service_client::FileServiceClient;
use fip_proto::files::v1::{File, GetFileRequest};
use fip_proto::jobs::v1::job_service_client::JobServiceClient;
use fip_proto::jobs::v1::{GetDashboardStatsRequest, GetDashboardStatsResponse};
use fip_proto::registry::v1 as registry;
use fip_proto::registry::v1::registry_service_client::RegistryServiceClient;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Answer, GrpcWeb, Rest, from_rest};
use crate::support::TestPlatform;

/// Registers and logs `name` in over REST; returns the access token.
async fn sign_up(rest: &Rest, name: &str) -> String {
    let password = format!("{name}-Passphrase-1");
    rest.post(
        "/api/auth/register",
        None,
        json!({"username": name, "email": format!("{name}@example.org"), "password": password,
               "first_name": "Test", "last_name": name}),
    )
    .await
    .ok();
    rest.post(
        "/api/auth/login",
        None,
        json!({"username": name, "password": password}),
    )
    .await
    .ok()["access_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn send_form(rest: &Rest, path: &str, token: &str, form: Form) -> Answer {
    let response = rest
        .http()
        .post(rest.url(path))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    Answer::read(response).await
}

/// Deterministic bytes that do not compress (several upload chunks).
fn content(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn files_stream_up_and_down_over_rest() {
    let platform = TestPlatform::start().await;
    let rest = Rest::new(&platform);
    let token = sign_up(&rest, "filer").await;
    let data = content(3 * 1024 * 1024 + 12345);
    let sha = hex::encode(Sha256::digest(&data));

    let form = Form::new().text("kind", "input").part(
        "file",
        Part::bytes(data.clone())
            .file_name("cohort.vcf.gz")
            .mime_str("application/gzip")
            .unwrap(),
    );
    let file = send_form(&rest, "/api/files/upload", &token, form)
        .await
        .ok();
    assert_eq!(file["name"], "cohort.vcf.gz");
    assert_eq!(file["content_type"], "application/gzip");
    assert_eq!(file["kind"], "input");
    assert_eq!(file["size_bytes"], data.len());
    assert_eq!(file["sha256"], sha.as_str());
    let id = file["id"].as_str().unwrap().to_string();

    // The same metadata over REST and gRPC.
    let rest_file: File = from_rest(
        rest.get(&format!("/api/files/{id}"), Some(&token))
            .await
            .ok(),
        "fip.files.v1.File",
    );
    let grpc_file = FileServiceClient::new(platform.channel.clone())
        .get_file(with_token(GetFileRequest { id: id.clone() }, &token))
        .await
        .unwrap()
        .into_inner()
        .file
        .unwrap();
    assert_eq!(rest_file, grpc_file);

    // The bytes, whole and by range.
    let whole = rest
        .http()
        .get(rest.url(&format!("/api/files/{id}/download")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    let headers = whole.headers().clone();
    assert_eq!(headers["content-type"], "application/gzip");
    assert_eq!(headers["content-length"], data.len().to_string().as_str());
    assert_eq!(headers["etag"], format!("\"{sha}\"").as_str());
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .contains("filename=\"cohort.vcf.gz\"")
    );
    assert_eq!(whole.bytes().await.unwrap().as_ref(), data.as_slice());
    let part = rest
        .http()
        .get(rest.url(&format!("/api/files/{id}/download")))
        .bearer_auth(&token)
        .header("range", "bytes=1000-1999")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 1000-1999/{}", data.len()).as_str()
    );
    assert_eq!(part.bytes().await.unwrap().as_ref(), &data[1000..2000]);
    // The query's offset/length select a slice too, with or without a Range
    // the gateway does not serve (several ranges: the slice answers whole);
    // a Range starting at the end has nothing to send.
    let size = data.len();
    for range in [None, Some("bytes=301-459,29-5935")] {
        let mut get = rest
            .http()
            .get(rest.url(&format!("/api/files/{id}/download?offset=20&length=511")))
            .bearer_auth(&token);
        if let Some(range) = range {
            get = get.header("range", range);
        }
        let slice = get.send().await.unwrap();
        assert_eq!(slice.status(), StatusCode::OK, "{range:?}");
        assert_eq!(slice.headers()["content-length"], "511");
        assert_eq!(slice.bytes().await.unwrap().as_ref(), &data[20..531]);
    }
    let tail = rest
        .http()
        .get(rest.url(&format!("/api/files/{id}/download")))
        .bearer_auth(&token)
        .header("range", format!("bytes={}-", size - 10))
        .send()
        .await
        .unwrap();
    assert_eq!(tail.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(tail.bytes().await.unwrap().as_ref(), &data[size - 10..]);
    let past = rest
        .http()
        .get(rest.url(&format!("/api/files/{id}/download")))
        .bearer_auth(&token)
        .header("range", format!("bytes={size}-"))
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        past.headers()["content-range"],
        format!("bytes */{size}").as_str()
    );

    // A signed link works with no token at all.
    let link = rest
        .post(
            &format!("/api/files/{id}/download-link"),
            Some(&token),
            json!({"ttl_seconds": 60}),
        )
        .await
        .ok();
    let url = link["url"].as_str().unwrap();
    assert!(url.starts_with("/api/downloads/"), "{url}");
    let by_link = rest.http().get(rest.url(url)).send().await.unwrap();
    assert_eq!(by_link.status(), StatusCode::OK);
    assert_eq!(by_link.bytes().await.unwrap().as_ref(), data.as_slice());
    let tampered = rest.get(&format!("{url}x"), None).await;
    assert_eq!(tampered.status, StatusCode::UNAUTHORIZED);

    // Another user sees nothing; a field after the file part is refused and
    // stores nothing.
    let other = sign_up(&rest, "stranger").await;
    let hidden = rest
        .get(&format!("/api/files/{id}/download"), Some(&other))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let late = Form::new()
        .part("file", Part::bytes(b"late".to_vec()).file_name("late.txt"))
        .text("kind", "input");
    let refused = send_form(&rest, "/api/files/upload", &other, late).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.json
    );
    let listed = rest.get("/api/files", Some(&other)).await.ok();
    assert_eq!(listed["files"], json!([]), "{listed:#}");
    platform.stop().await;
}

/// An emulated Michigan-type server in the catalog, with one panel.
async fn emulated_service(platform: &TestPlatform, server: &Emulator) -> (i64, i64) {
    let admin = platform.user_token(&[Role::Admin]).await;
    let mut registry = RegistryServiceClient::new(platform.channel.clone());
    let service = registry
        .create_service(with_token(
            registry::CreateServiceRequest {
                service: Some(registry::ImputationService {
                    name: "Emulated H3Africa".into(),
                    slug: "emulated".into(),
                    api_type: registry::ApiType::Michigan as i32,
                    base_url: server.base_url().to_string(),
                    supported_builds: vec![GenomeBuild::Hg38 as i32],
                    is_active: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .service
        .unwrap();
    let panel = registry
        .create_reference_panel(with_token(
            registry::CreateReferencePanelRequest {
                service_id: service.id,
                reference_panel: Some(registry::ReferencePanel {
                    slug: "apps@h3africa-v6hc-s@1.0.0".into(),
                    name: "H3Africa v6".into(),
                    build: GenomeBuild::Hg38 as i32,
                    populations: vec![registry::Population {
                        id: "afr".into(),
                        name: "AFR".into(),
                        ..Default::default()
                    }],
                    is_active: true,
                    ..Default::default()
                }),
            },
            &admin,
        ))
        .await
        .unwrap()
        .into_inner()
        .reference_panel
        .unwrap();
    (service.id, panel.id)
}

/// The original REST surface's job form.
fn job_form(service_id: i64, panel_id: i64, vcf: &[u8]) -> Form {
    Form::new()
        .text("name", "My Job")
        .text("service_id", service_id.to_string())
        .text("reference_panel_id", panel_id.to_string())
        .part(
            "input_file",
            Part::bytes(vcf.to_vec())
                .file_name("test.vcf.gz")
                .mime_str("application/gzip")
                .unwrap(),
        )
        .text("build", "hg38")
        .text("phasing", "eagle")
        .text("population", "afr")
}

/// Reads Server-Sent Events until `done` says stop; returns their data.
async fn read_events(mut response: reqwest::Response, done: impl Fn(&Value) -> bool) -> Vec<Value> {
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut buffer = String::new();
    let mut events = Vec::new();
    let read = async {
        while let Some(chunk) = response.chunk().await.unwrap() {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                for line in event.lines() {
                    if let Some(data) = line.strip_prefix("data: ") {
                        let value: Value = serde_json::from_str(data).unwrap();
                        let stop = done(&value);
                        events.push(value);
                        if stop {
                            return;
                        }
                    }
                }
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("the events come within a minute");
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_submitted_as_the_original_form_run_and_stream_their_progress() {
    let platform = TestPlatform::start_with(|c| {
        c.jobs.poll_interval = Duration::from_millis(20);
        c.jobs.max_retry_interval = Duration::from_millis(200);
        c.external.request_timeout = Duration::from_secs(2);
    })
    .await;
    let server = Emulator::start(cloudgene::Config::default()).await;
    let (service_id, panel_id) = emulated_service(&platform, &server).await;
    let rest = Rest::new(&platform);
    let token = sign_up(&rest, "ada").await;
    let vcf = VcfSpec::new(25, 60)
        .chromosomes(["20", "21"])
        .phased(true)
        .build()
        .bgzf();

    // No credential yet: the original "Setup required" answer, and the
    // uploaded input is removed again.
    let refused = send_form(
        &rest,
        "/api/jobs",
        &token,
        job_form(service_id, panel_id, &vcf),
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{:#}",
        refused.json
    );
    assert_eq!(refused.json["error"], "CREDENTIALS_MISSING");
    assert_eq!(refused.json["service_id"], service_id);
    assert!(refused.json["message"].as_str().unwrap().len() > 10);
    assert!(refused.json.get("action").is_some());
    let files = rest.get("/api/files", Some(&token)).await.ok();
    assert_eq!(files["files"], json!([]), "{files:#}");

    rest.post(
        "/api/users/me/service-credentials",
        Some(&token),
        json!({"service_id": service_id, "credential_type": "api_token",
               "api_token": server.issue_token("ada")}),
    )
    .await
    .ok();
    let job = send_form(
        &rest,
        "/api/jobs",
        &token,
        job_form(service_id, panel_id, &vcf),
    )
    .await
    .ok();
    let id = job["id"].as_str().unwrap().to_string();
    assert!(
        ["queued", "pending", "running"].contains(&job["status"].as_str().unwrap()),
        "{job:#}"
    );
    assert_eq!(job["name"], "My Job");

    // Follow it as a browser would: Server-Sent Events until it is final.
    let watch = rest
        .http()
        .get(rest.url(&format!("/api/jobs/{id}/watch")))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(watch.status(), StatusCode::OK);
    let terminal = ["completed", "failed", "cancelled", "expired"];
    let events = read_events(watch, |e| {
        terminal.contains(&e["job"]["status"].as_str().unwrap_or_default())
    })
    .await;
    let last = events.last().unwrap();
    assert_eq!(last["job"]["status"], "completed", "{events:#?}");
    assert_eq!(events[0]["job"]["id"], id.as_str());

    // A finished job's stream is one message, here as NDJSON.
    let ndjson = rest
        .http()
        .get(rest.url(&format!("/api/jobs/{id}/watch")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ndjson.headers()["content-type"], "application/x-ndjson");
    let text = ndjson.text().await.unwrap();
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["job"]["status"], "completed");

    // The rest of the original job routes.
    let listed = rest
        .get("/api/jobs?status=completed", Some(&token))
        .await
        .ok();
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["id"] == id.as_str())
    );
    let none = rest
        .get("/api/jobs?status=failed&status=cancelled", Some(&token))
        .await
        .ok();
    assert_eq!(none, json!([]));
    let one = rest
        .get(&format!("/api/jobs/{id}"), Some(&token))
        .await
        .ok();
    assert_eq!(one["status"], "completed");
    let updates = rest
        .get(&format!("/api/jobs/{id}/status-updates"), Some(&token))
        .await
        .ok();
    assert!(updates.as_array().unwrap().len() >= 2, "{updates:#}");
    let logs = rest
        .get(&format!("/api/jobs/{id}/logs"), Some(&token))
        .await
        .ok();
    assert!(logs.is_array());
    let results = rest
        .get(&format!("/api/jobs/{id}/results"), Some(&token))
        .await
        .ok();
    assert!(results.is_object());

    // Dashboard stats agree over the three protocols.
    let rest_stats: GetDashboardStatsResponse = from_rest(
        rest.get("/api/dashboard/stats", Some(&token)).await.ok(),
        "fip.jobs.v1.GetDashboardStatsResponse",
    );
    assert_eq!(rest_stats.total_jobs, 1);
    assert_eq!(rest_stats.completed_jobs, 1);
    let grpc_stats = JobServiceClient::new(platform.channel.clone())
        .get_dashboard_stats(with_token(GetDashboardStatsRequest::default(), &token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rest_stats, grpc_stats);
    let web_stats: GetDashboardStatsResponse = GrpcWeb::new(&platform, true)
        .unary(
            "/fip.jobs.v1.JobService/GetDashboardStats",
            &GetDashboardStatsRequest::default(),
            Some(&token),
        )
        .await
        .unwrap();
    assert_eq!(web_stats, grpc_stats);

    // One input to several targets, as a form with the targets as JSON.
    let multi = Form::new()
        .text("name", "Both panels")
        .text(
            "targets",
            json!([{"service_id": service_id, "reference_panel_id": panel_id, "build": "hg38", "population": "afr"}])
                .to_string(),
        )
        .part("input_file", Part::bytes(vcf.clone()).file_name("test.vcf.gz"));
    let parent = send_form(&rest, "/api/jobs/multi-service", &token, multi)
        .await
        .ok();
    assert_eq!(
        parent["child_jobs"].as_array().unwrap().len(),
        1,
        "{parent:#}"
    );
    assert_eq!(parent["parent_job"]["name"], "Both panels");

    // The inbox: its stream opens with a snapshot of the unread count.
    let inbox = rest
        .http()
        .get(rest.url("/api/notifications/watch"))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let first = read_events(inbox, |_| true).await;
    assert_eq!(first[0]["event"], "snapshot");
    let unread = first[0]["unread_count"].as_i64().unwrap();
    let list = rest.get("/api/notifications", Some(&token)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.json.as_array().unwrap().len() as i64 >= unread);
    server.stop().await;
    platform.stop().await;
}
