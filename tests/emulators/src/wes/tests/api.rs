//! service-info, auth, validation, listing and being down.

use serde_json::{Value, json};

use super::super::{Config, Emulator};
use super::{CWL, Client, WORKFLOW, fields, started, submit_chr20, vcf};

#[tokio::test]
async fn service_info_answers_anonymously_by_default() {
    let server = Emulator::start(Config::default()).await;
    let anonymous = Client::new(&server, None);
    let info = anonymous.get_json("/service-info").await;
    assert_eq!(
        info["workflow_type_versions"],
        json!({"CWL": {"workflow_type_version": ["v1.0"]}})
    );
    assert_eq!(info["supported_wes_versions"], json!(["1.0.0"]));
    assert_eq!(info["default_workflow_engine_parameters"], json!([]));
    assert!(info["workflow_engine_versions"]["cwltool"].is_string());
    assert!(
        info["supported_filesystem_protocols"]
            .as_array()
            .unwrap()
            .contains(&json!("http"))
    );
    assert!(
        info["auth_instructions_url"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:")
    );
    assert!(info["tags"].is_object());
    assert_eq!(info["system_state_counts"], json!({}));

    let token = server.issue_token("alice");
    let alice = Client::new(&server, Some(&token));
    submit_chr20(&alice).await;
    let info = anonymous.get_json("/service-info").await;
    assert_eq!(info["system_state_counts"], json!({"QUEUED": 1}));
}

#[tokio::test]
async fn service_info_can_require_auth_or_be_minimal() {
    let server = Emulator::start(Config {
        service_info_requires_auth: true,
        minimal_service_info: true,
        ..Config::default()
    })
    .await;
    let response = Client::new(&server, None).get("/service-info").await;
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status_code"], 401);
    assert!(body["msg"].as_str().unwrap().contains("unauthorized"));

    let token = server.issue_token("alice");
    let info = Client::new(&server, Some(&token))
        .get_json("/service-info")
        .await;
    assert_eq!(info, json!({"supported_wes_versions": ["1.0.0"]}));
}

#[tokio::test]
async fn calls_without_a_known_token_are_refused() {
    let (server, alice) = started(Config::default()).await;
    let id = submit_chr20(&alice).await;
    for client in [
        Client::new(&server, None),
        Client::new(&server, Some("forged")),
    ] {
        for path in [
            "/runs".to_owned(),
            format!("/runs/{id}"),
            format!("/runs/{id}/status"),
        ] {
            let response = client.get(&path).await;
            assert_eq!(response.status(), 401, "{path}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["status_code"], 401);
        }
        assert_eq!(
            client.post(&format!("/runs/{id}/cancel")).await.status(),
            401
        );
        let response = client
            .submit(
                &fields(json!(["chr20.vcf.gz"])),
                &[(WORKFLOW, CWL.to_vec())],
            )
            .await;
        assert_eq!(response.status(), 401);
    }
    // Refused calls did not poll the run.
    assert_eq!(server.polls(&id), Some(0));
    assert_eq!(server.submissions().len(), 1);
    let requests = server.requests();
    assert!(requests.iter().any(|r| !r.auth && r.status == Some(401)));
    assert!(requests.iter().any(|r| r.auth && r.status == Some(401)));

    // A revoked token is refused too.
    let token = server.issue_token("carol");
    server.revoke_token(&token);
    assert_eq!(
        Client::new(&server, Some(&token))
            .get("/runs")
            .await
            .status(),
        401
    );
}

#[tokio::test]
async fn another_users_run_is_forbidden() {
    let (server, alice) = started(Config::default()).await;
    let id = submit_chr20(&alice).await;
    let bob = Client::new(&server, Some(&server.issue_token("bob")));
    for path in [format!("/runs/{id}"), format!("/runs/{id}/status")] {
        let response = bob.get(&path).await;
        assert_eq!(response.status(), 403, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status_code"], 403);
    }
    assert_eq!(bob.post(&format!("/runs/{id}/cancel")).await.status(), 403);
    assert_eq!(server.polls(&id), Some(0));
    // Bob's list does not show it; unknown runs are 404.
    let listed = bob.get_json("/runs").await;
    assert_eq!(listed["runs"], json!([]));
    let response = alice.get("/runs/no-such-run").await;
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status_code"], 404);
    assert_eq!(alice.post("/runs/no-such-run/cancel").await.status(), 404);
}

#[tokio::test]
async fn submits_are_validated_like_a_real_server() {
    let (server, alice) = started(Config::default()).await;
    let attachments = [(WORKFLOW, CWL.to_vec()), ("chr20.vcf.gz", vcf("20", 5, 10))];
    let valid = fields(json!(["chr20.vcf.gz"]));
    let with = |name: &str, value: Option<&str>| -> Vec<(&'static str, String)> {
        let mut changed: Vec<(&'static str, String)> =
            valid.iter().filter(|(n, _)| *n != name).cloned().collect();
        if let Some(value) = value {
            let key = valid
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(n, _)| *n)
                .unwrap();
            changed.push((key, value.to_owned()));
        }
        changed
    };
    let cases = [
        (with("workflow_params", None), "workflow_params"),
        (
            with("workflow_params", Some("{not json")),
            "workflow_params is not valid JSON",
        ),
        (with("workflow_params", Some("[1]")), "JSON object"),
        (with("workflow_url", None), "workflow_url"),
        (
            with("workflow_url", Some("other.cwl")),
            "no workflow_attachment",
        ),
        (
            with("workflow_type", Some("WDL")),
            "Unsupported workflow_type 'WDL'",
        ),
        (with("workflow_type", None), "workflow_type"),
        (
            with("workflow_type_version", Some("v1.2")),
            "Unsupported workflow_type_version 'v1.2'",
        ),
        (with("tags", Some("[]")), "tags must be a JSON object"),
    ];
    for (form, expected) in cases {
        let response = alice.submit(&form, &attachments).await;
        assert_eq!(response.status(), 400, "{expected}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status_code"], 400);
        let msg = body["msg"].as_str().unwrap();
        assert!(msg.contains(expected), "{msg} lacks {expected}");
    }
    let mut engine = valid.clone();
    engine.push(("workflow_engine", "toil".to_owned()));
    assert_eq!(alice.submit(&engine, &attachments).await.status(), 400);
    // Not multipart at all.
    let response = alice
        .http
        .post(format!("{}/runs", server.wes_url()))
        .bearer_auth(alice.token.as_deref().unwrap())
        .json(&json!({"workflow_url": WORKFLOW}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(server.submissions().is_empty());
    assert!(server.run_ids().is_empty());
}

#[tokio::test]
async fn submissions_are_recorded_with_every_field() {
    let (server, alice) = started(Config::default()).await;
    let mut form = fields(json!([{"class": "File", "location": "chr20.vcf.gz"}]));
    form.push((
        "workflow_engine_parameters",
        json!({"--parallel": ""}).to_string(),
    ));
    form.push(("workflow_engine", "cwltool".to_owned()));
    let input = vcf("20", 5, 10);
    let id = alice
        .submit_ok(
            &form,
            &[(WORKFLOW, CWL.to_vec()), ("chr20.vcf.gz", input.clone())],
        )
        .await;
    let submissions = server.submissions();
    assert_eq!(submissions.len(), 1);
    let submission = &submissions[0];
    assert_eq!(submission.run_id, id);
    assert_eq!(submission.user, "alice");
    assert_eq!(
        submission.workflow_params,
        json!({"target": [{"class": "File", "location": "chr20.vcf.gz"}]})
    );
    assert_eq!(submission.workflow_type, "CWL");
    assert_eq!(submission.workflow_type_version, "v1.0");
    assert_eq!(submission.workflow_url, WORKFLOW);
    assert_eq!(submission.tags["job"], "hub-job-1");
    assert_eq!(
        submission.workflow_engine_parameters,
        Some(json!({"--parallel": ""}))
    );
    assert_eq!(submission.workflow_engine.as_deref(), Some("cwltool"));
    assert_eq!(submission.workflow_engine_version, None);
    assert_eq!(submission.attachments.len(), 2);
    assert_eq!(submission.attachment(WORKFLOW).unwrap().bytes, CWL);
    assert_eq!(submission.attachment("chr20.vcf.gz").unwrap().bytes, input);
    // The run id looks like a UUID.
    assert_eq!(id.len(), 36);
    assert_eq!(id.matches('-').count(), 4);
    // The RunLog echoes the request.
    let log = alice.get_json(&format!("/runs/{id}")).await;
    assert_eq!(log["request"]["workflow_url"], WORKFLOW);
    assert_eq!(log["request"]["tags"], json!({"job": "hub-job-1"}));
    assert_eq!(
        log["request"]["workflow_params"],
        submission.workflow_params
    );
}

#[tokio::test]
async fn listing_pages_newest_first() {
    let (server, alice) = started(Config {
        default_page_size: 2,
        ..Config::default()
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(submit_chr20(&alice).await);
    }
    let first = alice.get_json("/runs").await;
    let runs = first["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0], json!({"run_id": ids[2], "state": "QUEUED"}));
    assert_eq!(runs[1]["run_id"], ids[1]);
    let token = first["next_page_token"].as_str().unwrap();
    assert!(!token.is_empty());
    let second = alice.get_json(&format!("/runs?page_token={token}")).await;
    assert_eq!(
        second["runs"],
        json!([{"run_id": ids[0], "state": "QUEUED"}])
    );
    assert_eq!(second["next_page_token"], "");
    let all = alice.get_json("/runs?page_size=10").await;
    assert_eq!(all["runs"].as_array().unwrap().len(), 3);
    assert_eq!(alice.get("/runs?page_token=bogus").await.status(), 400);
    assert_eq!(alice.get("/runs?page_size=0").await.status(), 400);
    // Listing is not polling.
    assert!(ids.iter().all(|id| server.polls(id) == Some(0)));
}

#[tokio::test]
async fn quirks_list_under_workflows_and_ignore_paging() {
    let (_server, alice) = started(Config {
        list_key_workflows: true,
        ignore_paging: true,
        ..Config::default()
    })
    .await;
    for _ in 0..3 {
        submit_chr20(&alice).await;
    }
    let listed = alice.get_json("/runs?page_size=1").await;
    assert!(listed.get("runs").is_none());
    assert_eq!(listed["workflows"].as_array().unwrap().len(), 3);
    assert_eq!(listed["next_page_token"], "");
}

#[tokio::test]
async fn a_down_server_answers_503_everywhere() {
    let (server, alice) = started(Config::default()).await;
    let id = submit_chr20(&alice).await;
    server.set_down(true);
    for path in [
        "/service-info".to_owned(),
        "/runs".to_owned(),
        format!("/runs/{id}"),
    ] {
        let response = alice.get(&path).await;
        assert_eq!(response.status(), 503, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status_code"], 503);
    }
    assert_eq!(server.polls(&id), Some(0));
    server.set_down(false);
    assert_eq!(
        alice.get_json(&format!("/runs/{id}/status")).await["state"],
        "QUEUED"
    );
}
