//! Submits the server accepts and then fails, and the ones it refuses.

use serde_json::Value;

use super::*;
use crate::cloudgene::{job_state, message_type};

/// Submits, runs the job to its end and returns its final JSON.
async fn outcome(client: &Client, files: Vec<(String, Vec<u8>)>, form: &[(&str, &str)]) -> Value {
    let id = client.submit_ok(files, form).await;
    client.poll_to_end(&id).await.0
}

fn validation_error(job: &Value) -> String {
    assert_eq!(job["state"], job_state::FAILED);
    let message = &job["steps"][0]["logMessages"][0];
    assert_eq!(message["type"], message_type::ERROR);
    message["message"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn bad_inputs_fail_at_the_validation_step() {
    let (server, client) = started().await;
    server.set_max_jobs_per_user(100);
    let good = VcfSpec::new(25, 10).build();
    let cases: Vec<(Files, &str)> = vec![
        (
            vec![("chr20.vcf.gz".into(), good.gzip())],
            "not a valid BGZF file",
        ),
        (
            vec![(
                "all.vcf.gz".into(),
                VcfSpec::new(25, 10)
                    .chromosomes(["20", "21"])
                    .build()
                    .bgzf(),
            )],
            "The provided VCF file contains more than one chromosome. Please split your input VCF file by chromosome",
        ),
        (
            vec![("chr20.vcf.gz".into(), VcfSpec::new(19, 10).build().bgzf())],
            "At least 20 samples must be uploaded.",
        ),
        (
            vec![("chr20.vcf".into(), good.text().into_bytes())],
            "The provided files are not VCF files",
        ),
    ];
    for (files, expected) in cases {
        let job = outcome(&client, files, &fields("p")).await;
        let error = validation_error(&job);
        assert!(error.contains(expected), "{expected:?} not in {error:?}");
        assert!(job["outputParams"].as_array().unwrap().is_empty());
        // The later steps never ran.
        assert!(
            job["steps"][1]["logMessages"]
                .as_array()
                .unwrap()
                .is_empty()
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_panel_fails_the_job_at_once() {
    let (server, client) = started().await;
    let mut form = fields("p");
    form.retain(|(k, _)| *k != "refpanel");
    form.push(("refpanel", "apps@no-such-panel@1.0.0"));
    let id = client.submit_ok(bgzf_files(&default_vcf()), &form).await;
    let job = client.get_json(&format!("/api/v2/jobs/{id}")).await;
    assert_eq!(job["state"], 5);
    assert!(
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["logMessages"].as_array().unwrap().is_empty())
    );
    // Short ids without prefix or version name a panel too.
    let mut form = fields("p");
    form.retain(|(k, _)| *k != "refpanel");
    form.push(("refpanel", "1000g-phase-3-v5"));
    let id = client.submit_ok(bgzf_files(&default_vcf()), &form).await;
    assert_eq!(
        client.get_json(&format!("/api/v2/jobs/{id}")).await["state"],
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_fields_are_refused_and_create_nothing() {
    let (server, client) = started().await;
    let mut form = fields("p");
    form.push(("r2_filter", "0.3"));
    let response = client.submit(bgzf_files(&default_vcf()), &form).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"success": false, "message": "Parameter 'r2_filter' not found."})
    );
    assert!(server.jobs().is_empty());
    assert_eq!(server.accepted_submissions(), 0);
    let submissions = server.submissions();
    assert_eq!(submissions.len(), 1);
    assert_eq!(submissions[0].status, 400);
    assert_eq!(submissions[0].job_id, None);

    let response = client
        .http
        .post(client.url("/api/v2/jobs/submit/minimac4"))
        .header("X-Auth-Token", &client.token)
        .multipart(reqwest::multipart::Form::new().text("refpanel", PANEL))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Application 'minimac4' not found.");
    server.stop().await;
}

#[tokio::test]
async fn a_user_may_run_only_so_many_jobs_at_once() {
    let (server, client) = started().await;
    server.set_max_jobs_per_user(2);
    let files = bgzf_files(&VcfSpec::new(20, 3).build());
    let first = client.submit_ok(files.clone(), &fields("p")).await;
    client.submit_ok(files.clone(), &fields("p")).await;
    let refused = client.submit(files.clone(), &fields("p")).await;
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(
        body["message"],
        "Only 2 jobs per user can be executed simultaneously."
    );
    // Another user is not affected; a finished job frees a slot.
    let bob = Client::new(&server, &server.issue_token("bob"));
    bob.submit_ok(files.clone(), &fields("p")).await;
    server.run_to_end(&first);
    client.submit_ok(files, &fields("p")).await;
    assert_eq!(server.accepted_submissions(), 4);
    server.stop().await;
}
