//! Lifecycle: polls, the not-found quirk, cancel, scripted outcomes and
//! inputs given as URLs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::super::{Config, Polls, RunState, Script};
use super::{CWL, WORKFLOW, fields, started, submit_chr20, vcf};

#[tokio::test]
async fn a_run_advances_one_state_per_poll() {
    let (server, alice) = started(Config::default()).await;
    let id = submit_chr20(&alice).await;
    assert_eq!(server.run_state(&id), Some(RunState::Queued));
    // RunLog and status both poll.
    let log = alice.get_json(&format!("/runs/{id}")).await;
    assert_eq!(log["state"], "QUEUED");
    assert_eq!(log["outputs"], json!({}));
    assert_eq!(log["run_log"]["exit_code"], Value::Null);
    let states = alice.poll_to_end(&id).await;
    assert_eq!(states, ["INITIALIZING", "RUNNING", "COMPLETE"]);
    assert_eq!(Polls::default().to_finish(), 4);
    assert_eq!(server.polls(&id), Some(4));
    assert_eq!(server.run_state(&id), Some(RunState::Complete));
    // A finished run stays finished.
    assert_eq!(
        alice.get_json(&format!("/runs/{id}/status")).await["state"],
        "COMPLETE"
    );
    let log = alice.get_json(&format!("/runs/{id}")).await;
    assert_eq!(log["run_log"]["exit_code"], 0);
    assert!(log["run_log"]["start_time"].is_string());
    assert!(log["run_log"]["end_time"].is_string());
    let stderr = log["run_log"]["stderr"].as_str().unwrap();
    assert!(
        stderr.contains("Final process status is success"),
        "{stderr}"
    );
    // cwltool prints the output object on stdout.
    let stdout: Value = serde_json::from_str(log["run_log"]["stdout"].as_str().unwrap()).unwrap();
    assert_eq!(stdout, log["outputs"]);
    assert_eq!(log["task_logs"][0]["name"], "impute_chr20");
    assert_eq!(log["task_logs"][0]["exit_code"], 0);
    // WES 1.1 task endpoints show the same, without polling.
    let tasks = alice.get_json(&format!("/runs/{id}/tasks")).await;
    assert_eq!(tasks["task_logs"], log["task_logs"]);
    assert_eq!(tasks["next_page_token"], "");
    let task = alice
        .get_json(&format!("/runs/{id}/tasks/impute_chr20"))
        .await;
    assert_eq!(task, log["task_logs"][0]);
    assert_eq!(
        alice.get(&format!("/runs/{id}/tasks/nope")).await.status(),
        404
    );
    assert_eq!(server.polls(&id), Some(6));
}

#[tokio::test]
async fn poll_counts_are_configurable() {
    let (server, alice) = started(Config {
        polls: Polls {
            queued: 2,
            initializing: 0,
            running: 3,
            canceling: 0,
        },
        ..Config::default()
    })
    .await;
    let id = submit_chr20(&alice).await;
    let states = alice.poll_to_end(&id).await;
    assert_eq!(
        states,
        [
            "QUEUED", "QUEUED", "RUNNING", "RUNNING", "RUNNING", "COMPLETE"
        ]
    );
    // The direct control polls too.
    let id = submit_chr20(&alice).await;
    assert_eq!(server.poll(&id), Some(RunState::Queued));
    assert_eq!(server.poll("nope"), None);
}

#[tokio::test]
async fn new_runs_can_be_not_found_for_a_few_gets() {
    let (server, alice) = started(Config {
        not_found_polls: 3,
        ..Config::default()
    })
    .await;
    let id = submit_chr20(&alice).await;
    let mut seen = Vec::new();
    for path in [
        format!("/runs/{id}"),
        format!("/runs/{id}/status"),
        format!("/runs/{id}"),
    ] {
        let response = alice.get(&path).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status_code"], status);
        seen.push(status);
    }
    assert_eq!(seen, [404, 400, 404]);
    assert_eq!(server.polls(&id), Some(0));
    assert_eq!(
        alice.poll_to_end(&id).await,
        ["QUEUED", "INITIALIZING", "RUNNING", "COMPLETE"]
    );
}

#[tokio::test]
async fn cancel_goes_through_canceling_to_canceled() {
    let (server, alice) = started(Config::default()).await;
    let id = submit_chr20(&alice).await;
    assert_eq!(
        alice.get_json(&format!("/runs/{id}/status")).await["state"],
        "QUEUED"
    );
    let response = alice.post(&format!("/runs/{id}/cancel")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"run_id": id})
    );
    assert_eq!(server.run_state(&id), Some(RunState::Canceling));
    let log = alice.get_json(&format!("/runs/{id}")).await;
    assert_eq!(log["state"], "CANCELED");
    assert_eq!(log["outputs"], json!({}));
    assert!(log["run_log"]["end_time"].is_string());
    // Cancelling a finished run changes nothing.
    assert_eq!(
        alice.post(&format!("/runs/{id}/cancel")).await.status(),
        200
    );
    assert_eq!(
        alice.get_json(&format!("/runs/{id}/status")).await["state"],
        "CANCELED"
    );
}

#[tokio::test]
async fn canceling_can_last_more_polls() {
    let (_server, alice) = started(Config {
        polls: Polls {
            canceling: 2,
            ..Polls::default()
        },
        ..Config::default()
    })
    .await;
    let id = submit_chr20(&alice).await;
    alice.post(&format!("/runs/{id}/cancel")).await;
    assert_eq!(
        alice.poll_to_end(&id).await,
        ["CANCELING", "CANCELING", "CANCELED"]
    );
}

#[tokio::test]
async fn a_noop_cancel_answers_but_the_run_goes_on() {
    let (server, alice) = started(Config {
        cancel_is_noop: true,
        ..Config::default()
    })
    .await;
    let id = submit_chr20(&alice).await;
    let response = alice.post(&format!("/runs/{id}/cancel")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"run_id": id})
    );
    assert_eq!(server.run_state(&id), Some(RunState::Queued));
    assert_eq!(alice.poll_to_end(&id).await.last().unwrap(), "COMPLETE");
    assert_eq!(alice.post("/runs/unknown/cancel").await.status(), 404);
}

#[tokio::test]
async fn scripted_executor_and_system_errors() {
    let (server, alice) = started(Config::default()).await;
    server.script_next_run(Script::ExecutorError {
        stderr: "beagle: java.lang.OutOfMemoryError".to_owned(),
    });
    server.script_next_run(Script::SystemError);
    let failing = submit_chr20(&alice).await;
    let lost = submit_chr20(&alice).await;
    let fine = submit_chr20(&alice).await;

    assert_eq!(
        alice.poll_to_end(&failing).await.last().unwrap(),
        "EXECUTOR_ERROR"
    );
    let log = alice.get_json(&format!("/runs/{failing}")).await;
    assert_eq!(log["state"], "EXECUTOR_ERROR");
    assert_eq!(log["run_log"]["exit_code"], 1);
    assert_eq!(
        log["run_log"]["stderr"],
        "beagle: java.lang.OutOfMemoryError"
    );
    assert_eq!(
        log["task_logs"][0]["stderr"],
        "beagle: java.lang.OutOfMemoryError"
    );
    assert_eq!(log["task_logs"][0]["exit_code"], 1);
    assert_eq!(log["outputs"], json!({}));

    assert_eq!(
        alice.poll_to_end(&lost).await.last().unwrap(),
        "SYSTEM_ERROR"
    );
    let log = alice.get_json(&format!("/runs/{lost}")).await;
    assert_eq!(log["run_log"]["stderr"], "node lost");
    assert_eq!(log["outputs"], json!({}));

    assert_eq!(alice.poll_to_end(&fine).await.last().unwrap(), "COMPLETE");
}

#[tokio::test]
async fn a_run_can_run_forever_until_cancelled() {
    let (server, alice) = started(Config {
        outcome: Script::RunningForever,
        ..Config::default()
    })
    .await;
    let id = submit_chr20(&alice).await;
    for _ in 0..10 {
        alice.get_json(&format!("/runs/{id}/status")).await;
    }
    assert_eq!(server.run_state(&id), Some(RunState::Running));
    let log = alice.get_json(&format!("/runs/{id}")).await;
    assert_eq!(log["task_logs"][0]["exit_code"], Value::Null);
    alice.post(&format!("/runs/{id}/cancel")).await;
    assert_eq!(alice.poll_to_end(&id).await, ["CANCELED"]);
}

#[tokio::test]
async fn bad_inputs_end_the_run_as_cwltool_would() {
    let (_server, alice) = started(Config::default()).await;
    let cases = [
        (
            json!(["chr21.vcf.gz"]),
            "No such file or directory: 'chr21.vcf.gz'",
        ),
        (json!([]), "Missing required input parameter 'target'"),
        (
            json!(["s3://bucket/chr20.vcf.gz"]),
            "unsupported scheme 's3'",
        ),
    ];
    for (inputs, expected) in cases {
        let id = alice
            .submit_ok(&fields(inputs), &[(WORKFLOW, CWL.to_vec())])
            .await;
        assert_eq!(
            alice.poll_to_end(&id).await.last().unwrap(),
            "EXECUTOR_ERROR"
        );
        let log = alice.get_json(&format!("/runs/{id}")).await;
        let stderr = log["run_log"]["stderr"].as_str().unwrap();
        assert!(stderr.contains(expected), "{stderr}");
    }
    // Not a VCF.
    let id = alice
        .submit_ok(
            &fields(json!(["chr20.vcf.gz"])),
            &[
                (WORKFLOW, CWL.to_vec()),
                ("chr20.vcf.gz", b"hello".to_vec()),
            ],
        )
        .await;
    assert_eq!(
        alice.poll_to_end(&id).await.last().unwrap(),
        "EXECUTOR_ERROR"
    );
}

/// A plain HTTP server on loopback serving `/data/<name>`, counting requests.
async fn file_server(files: Vec<(&'static str, Vec<u8>)>) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let mut router = Router::new();
    for (name, bytes) in files {
        let hits = hits.clone();
        router = router.route(
            &format!("/data/{name}"),
            get(move || {
                hits.fetch_add(1, Ordering::SeqCst);
                let bytes = bytes.clone();
                async move { bytes }
            }),
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{address}"), hits)
}

#[tokio::test]
async fn inputs_given_as_urls_are_downloaded() {
    let chr20 = vcf("20", 6, 15);
    let chr21 = vcf("21", 6, 9);
    let (origin, hits) = file_server(vec![
        ("chr20.vcf.gz", chr20.clone()),
        ("chr21.vcf.gz", chr21.clone()),
    ])
    .await;
    let (server, alice) = started(Config::default()).await;
    let url20 = format!("{origin}/data/chr20.vcf.gz");
    let url21 = format!("{origin}/data/chr21.vcf.gz");
    let id = alice
        .submit_ok(
            &fields(json!([{"class": "File", "location": url20}, url21])),
            &[(WORKFLOW, CWL.to_vec())],
        )
        .await;
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let fetches = server.fetches();
    assert_eq!(fetches.len(), 2);
    assert_eq!(fetches[0].url, url20);
    assert_eq!(fetches[0].run_id, id);
    assert_eq!(fetches[0].status, Some(200));
    assert_eq!(fetches[0].size, chr20.len());
    assert_eq!(fetches[1].url, url21);
    assert_eq!(fetches[1].size, chr21.len());
    assert!(fetches.iter().all(|fetch| fetch.error.is_none()));

    assert_eq!(alice.poll_to_end(&id).await.last().unwrap(), "COMPLETE");
    let log = alice.get_json(&format!("/runs/{id}")).await;
    let names: Vec<&str> = log["outputs"]["imputed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|file| file["basename"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["chr20.imputed.vcf.gz", "chr21.imputed.vcf.gz"]);

    // A URL that answers 404 fails the run, and the fetch is recorded.
    let missing = format!("{origin}/data/chr22.vcf.gz");
    let id = alice
        .submit_ok(&fields(json!([missing])), &[(WORKFLOW, CWL.to_vec())])
        .await;
    let fetch = server.fetches().pop().unwrap();
    assert_eq!(fetch.url, missing);
    assert_eq!(fetch.status, Some(404));
    assert!(fetch.error.is_some());
    assert_eq!(
        alice.poll_to_end(&id).await.last().unwrap(),
        "EXECUTOR_ERROR"
    );
    let log = alice.get_json(&format!("/runs/{id}")).await;
    assert!(
        log["run_log"]["stderr"]
            .as_str()
            .unwrap()
            .contains("HTTP Error 404")
    );
}

#[tokio::test]
async fn the_input_key_is_configurable() {
    let (_server, alice) = started(Config {
        input_key: "vcfs".to_owned(),
        ..Config::default()
    })
    .await;
    let form = vec![
        (
            "workflow_params",
            json!({"vcfs": ["sample.vcf.gz"]}).to_string(),
        ),
        ("workflow_type", "CWL".to_owned()),
        ("workflow_type_version", "v1.0".to_owned()),
        ("workflow_url", WORKFLOW.to_owned()),
    ];
    let id = alice
        .submit_ok(
            &form,
            &[(WORKFLOW, CWL.to_vec()), ("sample.vcf.gz", vcf("7", 4, 5))],
        )
        .await;
    alice.poll_to_end(&id).await;
    let log = alice.get_json(&format!("/runs/{id}")).await;
    assert_eq!(
        log["outputs"]["imputed"][0]["basename"],
        "chr7.imputed.vcf.gz"
    );
    assert_eq!(log["outputs"]["info"][0]["basename"], "chr7.info.gz");
}
