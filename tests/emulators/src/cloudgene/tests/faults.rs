//! Injected failures, hangs and lost replies.

use std::time::Duration;

use super::*;
use crate::cloudgene::{Effect, Fault};

#[tokio::test]
async fn the_next_requests_fail_then_the_server_recovers() {
    let (server, client) = started().await;
    server.inject(Fault::next(2, Effect::Status(503)).on_path("/api/v2/jobs"));
    assert_eq!(
        client.get("/api/v2/server").await.status(),
        200,
        "other paths untouched"
    );
    let first = client.get("/api/v2/jobs").await;
    assert_eq!(first.status(), 503);
    assert!(first.text().await.unwrap().contains("nginx"));
    assert_eq!(client.get("/api/v2/jobs").await.status(), 503);
    assert_eq!(client.get("/api/v2/jobs").await.status(), 200);
    assert_eq!(server.faults()[0].fired(), 2);

    server.clear_faults();
    server.inject(Fault::every(2, Effect::Status(500)));
    let statuses = [
        client.get("/api/v2/jobs").await.status().as_u16(),
        client.get("/api/v2/jobs").await.status().as_u16(),
        client.get("/api/v2/jobs").await.status().as_u16(),
        client.get("/api/v2/jobs").await.status().as_u16(),
    ];
    assert_eq!(statuses, [200, 500, 200, 500]);
    let recorded: Vec<Option<u16>> = server
        .requests()
        .iter()
        .rev()
        .take(4)
        .map(|r| r.status)
        .collect();
    assert_eq!(recorded, [Some(500), Some(200), Some(500), Some(200)]);
    server.stop().await;
}

#[tokio::test]
async fn a_hanging_server_times_the_client_out_and_a_lost_reply_still_creates_the_job() {
    let (server, client) = started().await;
    let impatient = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();

    server.inject(Fault::next(1, Effect::Hang).on_path("/api/v2/jobs/submit"));
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in bgzf_files(&default_vcf()) {
        form = form.part(
            "files",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    for (name, value) in fields("p") {
        form = form.text(name, value);
    }
    let error = impatient
        .post(client.url("/api/v2/jobs/submit/imputationserver2"))
        .header("X-Auth-Token", &client.token)
        .multipart(form)
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(
        server.jobs().is_empty(),
        "a hang before handling creates nothing"
    );
    assert_eq!(server.requests().last().unwrap().status, None);

    server.inject(Fault::next(1, Effect::HangAfterHandling).on_method("POST"));
    let mut form = reqwest::multipart::Form::new();
    for (name, bytes) in bgzf_files(&default_vcf()) {
        form = form.part(
            "files",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
    }
    for (name, value) in fields("p") {
        form = form.text(name, value);
    }
    let error = impatient
        .post(client.url("/api/v2/jobs/submit/imputationserver2"))
        .header("X-Auth-Token", &client.token)
        .multipart(form)
        .send()
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert_eq!(
        server.accepted_submissions(),
        1,
        "the job exists though its reply was lost"
    );
    let listed = client.get_json("/api/v2/jobs").await;
    assert_eq!(listed["data"][0]["name"], "hub-job-1");
    // Stopping releases the hanging requests.
    server.stop().await;
}
