//! Submit, follow and fetch: the whole life of a job.

use serde_json::Value;

use super::*;
use crate::cloudgene::{
    Emulator, InfoFormat, Outcome, Polls, Script, Step, job_state, message_type, r2,
};
use crate::fixtures::gunzip;

/// Data lines of a VCF text.
fn records(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split('\t').map(str::to_owned).collect())
        .collect()
}

fn info_field(info: &str, key: &str) -> f64 {
    info.split(';')
        .find_map(|field| field.strip_prefix(&format!("{key}=")))
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_job_runs_to_success_and_its_results_open_with_the_password() {
    let (server, client) = started().await;
    let vcf = default_vcf();
    let id = client
        .submit_ok(bgzf_files(&vcf), &fields("S3cretPass"))
        .await;
    assert!(id.starts_with("job-"), "{id}");

    // Submitted: waiting, first in the queue, times unset.
    let job = server.job(&id).unwrap();
    assert_eq!(job.state, job_state::WAITING);
    assert_eq!(job.name, "hub-job-1");
    let submission = &server.submissions()[0];
    assert_eq!(submission.files.len(), 2);
    assert!(
        submission
            .files
            .iter()
            .all(|f| f.bgzf && f.field == "files")
    );
    assert_eq!(submission.field("password"), Some("S3cretPass"));
    assert_eq!(server.accepted_submissions(), 1);

    let first = client.get_json(&format!("/api/v2/jobs/{id}")).await;
    assert_eq!(first["state"], 1);
    assert_eq!(first["positionInQueue"], 1);
    assert_eq!(first["startTime"], -1);
    assert_eq!(first["endTime"], -1);
    assert_eq!(first["name"], "hub-job-1");
    assert_eq!(first["username"], "alice");
    assert_eq!(first["application"], "Genotype Imputation 2.0.7");
    assert_eq!(first["applicationId"], "imputationserver2");
    assert!(first["submittedOn"].as_i64().unwrap() > 0);
    assert_eq!(first["steps"].as_array().unwrap().len(), 4);
    assert!(first["outputParams"].as_array().unwrap().is_empty());

    // Running: the validation step shows a RUNNING message.
    let running = client.get_json(&format!("/api/v2/jobs/{id}/status")).await;
    assert_eq!(running["state"], 2);
    assert_eq!(running["positionInQueue"], 0);
    assert!(running["startTime"].as_i64().unwrap() > 0);
    let step = &running["steps"][0];
    assert_eq!(step["name"], "Input Validation");
    assert_eq!(step["logMessages"][0]["type"], message_type::RUNNING);

    let (done, states) = client.poll_to_end(&id).await;
    assert_eq!(states, [2, 2, 2, 3, 4]);
    assert_eq!(
        server.job(&id).unwrap().polls,
        Emulator::polls_to_finish(Polls::default())
    );
    assert_eq!(done["positionInQueue"], -1);
    assert!(done["endTime"].as_i64().unwrap() >= done["startTime"].as_i64().unwrap());
    for (index, name) in [
        "Input Validation",
        "Quality Control",
        "Phasing and Imputation",
        "Summary",
    ]
    .iter()
    .enumerate()
    {
        let step = &done["steps"][index];
        assert_eq!(step["name"], *name);
        let messages = step["logMessages"].as_array().unwrap();
        assert_eq!(messages.len(), 1, "{step}");
        assert_eq!(messages[0]["type"], message_type::OK);
        assert!(messages[0]["time"].as_i64().unwrap() > 0);
    }
    let summary = done["steps"][0]["logMessages"][0]["message"]
        .as_str()
        .unwrap();
    assert!(summary.contains("Samples: 25"), "{summary}");
    assert!(summary.contains("Chromosomes: 20 21"), "{summary}");

    // Outputs: one downloadable parameter listing every file.
    let outputs = done["outputParams"].as_array().unwrap();
    assert_eq!(outputs.len(), 1);
    assert_eq!(outputs[0]["name"], "output");
    assert_eq!(outputs[0]["download"], true);
    assert_eq!(outputs[0]["hash"].as_str().unwrap().len(), 64);
    let files = outputs[0]["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "chr_20.zip",
            "chr_21.zip",
            "qc_report.txt",
            "quality-control.html",
            "statistics/chunks-excluded.txt",
            "statistics/snps-excluded.txt",
            "statistics/typed-only.txt",
        ]
    );
    assert!(files.iter().all(|f| f["count"] == 10));
    assert!(
        files
            .iter()
            .all(|f| f["hash"].as_str().unwrap().len() == 64)
    );
    let tree = outputs[0]["tree"].as_array().unwrap();
    assert_eq!(tree[0]["name"], "statistics");
    assert_eq!(tree[0]["folder"], true);
    assert_eq!(tree[0]["childs"].as_array().unwrap().len(), 3);

    for file in files {
        let name = file["name"].as_str().unwrap();
        let hash = file["hash"].as_str().unwrap();
        let response = client
            .http
            .get(client.url(&format!("/share/results/{hash}/{name}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{name}");
        let bytes = response.bytes().await.unwrap();
        let Some(chromosome) = name
            .strip_prefix("chr_")
            .and_then(|n| n.strip_suffix(".zip"))
        else {
            assert!(!bytes.is_empty());
            continue;
        };
        let dose_name = format!("chr{chromosome}.dose.vcf.gz");
        let info_name = format!("chr{chromosome}.info.gz");
        assert!(unzip(&bytes, &dose_name, "wrong-password").is_err());
        assert!(unzip(&bytes, &dose_name, "").is_err());
        let dose = gunzip(&unzip(&bytes, &dose_name, "S3cretPass").unwrap()).unwrap();
        let dose = String::from_utf8(dose).unwrap();
        let header = dose.lines().find(|l| l.starts_with("#CHROM")).unwrap();
        assert_eq!(header.split('\t').count(), 9 + 25);
        let positions = vcf.positions(chromosome);
        let rows = records(&dose);
        assert_eq!(rows.len(), positions.len());
        for (row, position) in rows.iter().zip(&positions) {
            assert_eq!(row[0], chromosome);
            assert_eq!(row[1], position.to_string());
            assert_eq!(row[8], "GT:DS");
            let (gt, ds) = row[9].split_once(':').unwrap();
            assert!(gt.contains('|'));
            assert!((0.0..=2.0).contains(&ds.parse::<f64>().unwrap()));
        }
        let info = gunzip(&unzip(&bytes, &info_name, "S3cretPass").unwrap()).unwrap();
        let info = String::from_utf8(info).unwrap();
        let rows = records(&info);
        assert_eq!(rows.len(), positions.len());
        let mean: f64 = rows
            .iter()
            .map(|row| info_field(&row[7], "R2"))
            .sum::<f64>()
            / rows.len() as f64;
        let expected: f64 = positions.iter().map(|p| r2(*p)).sum::<f64>() / positions.len() as f64;
        assert!((mean - expected).abs() < 1e-9, "{mean} vs {expected}");
        for row in &rows {
            let af = info_field(&row[7], "AF");
            let maf = info_field(&row[7], "MAF");
            assert!((0.0..=1.0).contains(&af));
            assert!((maf - af.min(1.0 - af)).abs() < 1e-4);
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn aes_results_with_the_older_info_format() {
    let (server, client) = started().await;
    server.set_info_format(InfoFormat::Tabular);
    let vcf = VcfSpec::new(20, 15).seed(9).build();
    let mut form = fields("Pw1");
    // A checkbox counts when sent, whatever its value.
    form.push(("aesEncryption", "false"));
    let id = client.submit_ok(bgzf_files(&vcf), &form).await;
    assert!(server.run_to_end(&id));
    let job = client.get_json(&format!("/api/v2/jobs/{id}")).await;
    assert_eq!(job["state"], 4);
    let zip_file = &job["outputParams"][0]["files"][0];
    assert_eq!(zip_file["name"], "chr_20.zip");
    let bytes = client
        .http
        .get(client.url(&format!(
            "/share/results/{}/chr_20.zip",
            zip_file["hash"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&bytes[..])).unwrap();
    let entry = archive.by_index_raw(0).unwrap();
    assert!(entry.encrypted());
    drop(entry);
    let info = gunzip(&unzip(&bytes, "chr20.info.gz", "Pw1").unwrap()).unwrap();
    let info = String::from_utf8(info).unwrap();
    let mut lines = info.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let rsq = header.iter().position(|c| *c == "Rsq").unwrap();
    let positions = vcf.positions("20");
    for (line, position) in lines.zip(&positions) {
        let columns: Vec<&str> = line.split('\t').collect();
        assert_eq!(columns[0], format!("20:{position}"));
        assert_eq!(columns[rsq].parse::<f64>().unwrap(), r2(*position));
    }
    server.stop().await;
}

#[tokio::test]
async fn passwords_are_html_escaped_and_a_missing_one_is_mailed() {
    let (server, client) = started().await;
    let vcf = VcfSpec::new(20, 5).build();
    let id = client.submit_ok(bgzf_files(&vcf), &fields("a&b")).await;
    server.run_to_end(&id);
    let job = server.job(&id).unwrap();
    assert_eq!(job.password, "a&amp;b");
    let (name, hash, _) = job.files[0].clone();
    let bytes = client
        .http
        .get(client.url(&format!("/share/results/{hash}/{name}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(unzip(&bytes, "chr20.dose.vcf.gz", "a&amp;b").is_ok());

    let without: Vec<(&str, &str)> = fields("")
        .into_iter()
        .filter(|(k, _)| *k != "password")
        .collect();
    let id = client.submit_ok(bgzf_files(&vcf), &without).await;
    server.run_to_end(&id);
    let job = server.job(&id).unwrap();
    assert!(job.password_mailed);
    assert_eq!(job.password.len(), 16);
    let summary = &job.steps[3].1[0].text;
    assert!(summary.contains("notification email"), "{summary}");
    server.stop().await;
}

#[tokio::test]
async fn scripts_fail_kill_and_retire_jobs() {
    let (server, client) = started().await;
    server.set_max_jobs_per_user(10);
    let vcf = VcfSpec::new(20, 5).build();

    server.script_next_job(Script::fail_at(
        Step::Imputation,
        "Imputation failed on chunk 20:1-20000000",
    ));
    let failed = client.submit_ok(bgzf_files(&vcf), &fields("p")).await;
    let (job, _) = client.poll_to_end(&failed).await;
    assert_eq!(job["state"], 5);
    let messages = &job["steps"][2]["logMessages"];
    assert_eq!(messages[0]["type"], message_type::ERROR);
    assert_eq!(
        messages[0]["message"],
        "Imputation failed on chunk 20:1-20000000"
    );
    assert!(job["outputParams"].as_array().unwrap().is_empty());

    server.script_next_job(Script::new(
        Polls::default(),
        Outcome::Dead {
            step: Step::QualityControl,
        },
    ));
    let dead = client.submit_ok(bgzf_files(&vcf), &fields("p")).await;
    let (job, _) = client.poll_to_end(&dead).await;
    assert_eq!(job["state"], -1);
    // Restart is only for DEAD jobs; it then runs to success.
    let restarted = client
        .get_json(&format!("/api/v2/jobs/{dead}/restart"))
        .await;
    assert_eq!(restarted["success"], true);
    let (job, _) = client.poll_to_end(&dead).await;
    assert_eq!(job["state"], 4);
    let again = client.get(&format!("/api/v2/jobs/{dead}/restart")).await;
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["message"], format!("Job {dead} is not pending."));

    server.script_next_job(Script::new(
        Polls {
            waiting: 0,
            per_step: 2,
            exporting: 0,
        },
        Outcome::Retired,
    ));
    let retired = client.submit_ok(bgzf_files(&vcf), &fields("p")).await;
    let (job, states) = client.poll_to_end(&retired).await;
    assert_eq!(states, [2, 2, 2, 2, 2, 2, 2, 2, 7]);
    let file = &job["outputParams"][0]["files"][0];
    let response = client
        .http
        .get(client.url(&format!(
            "/share/results/{}/{}",
            file["hash"].as_str().unwrap(),
            file["name"].as_str().unwrap()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Cancel is a GET and answers the job.
    let waiting = client.submit_ok(bgzf_files(&vcf), &fields("p")).await;
    let cancelled = client
        .get_json(&format!("/api/v2/jobs/{waiting}/cancel"))
        .await;
    assert_eq!(cancelled["state"], 6);
    assert!(cancelled["endTime"].as_i64().unwrap() > 0);
    assert_eq!(
        client.get_json(&format!("/api/v2/jobs/{waiting}")).await["state"],
        6
    );
    server.stop().await;
}

#[tokio::test]
async fn qc_only_mode_and_r2_filter_shape_the_results() {
    let (server, client) = started().await;
    let vcf = VcfSpec::new(20, 60).seed(5).build();
    let mut form = fields("p");
    form.retain(|(k, _)| *k != "mode");
    form.push(("mode", "qc_only"));
    let id = client.submit_ok(bgzf_files(&vcf), &form).await;
    let (job, _) = client.poll_to_end(&id).await;
    assert_eq!(job["state"], 4);
    assert!(
        job["steps"][2]["logMessages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let names: Vec<&str> = job["outputParams"][0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".zip")), "{names:?}");

    let mut form = fields("p");
    form.push(("r2Filter", "0.3"));
    let id = client.submit_ok(bgzf_files(&vcf), &form).await;
    server.run_to_end(&id);
    let job = server.job(&id).unwrap();
    let (name, hash, _) = job
        .files
        .iter()
        .find(|f| f.0 == "chr_20.zip")
        .unwrap()
        .clone();
    let bytes = client
        .http
        .get(client.url(&format!("/share/results/{hash}/{name}")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let info =
        String::from_utf8(gunzip(&unzip(&bytes, "chr20.info.gz", "p").unwrap()).unwrap()).unwrap();
    let kept: Vec<u64> = records(&info)
        .iter()
        .map(|r| r[1].parse().unwrap())
        .collect();
    let expected: Vec<u64> = vcf
        .positions("20")
        .into_iter()
        .filter(|p| r2(*p) >= 0.3)
        .collect();
    assert_eq!(kept, expected);
    assert!(kept.len() < 60);
    server.stop().await;
}

#[tokio::test]
async fn lists_page_newest_first_without_details_for_finished_jobs() {
    let (server, client) = started().await;
    server.set_max_jobs_per_user(100);
    let vcf = VcfSpec::new(20, 3).build();
    let files = bgzf_files(&vcf);
    let mut ids = Vec::new();
    for _ in 0..17 {
        ids.push(client.submit_ok(files.clone(), &fields("p")).await);
    }
    server.run_to_end(&ids[16]);
    let page = client.get_json("/api/v2/jobs?page=1").await;
    assert_eq!(page["count"], 17);
    assert_eq!(page["page"], 1);
    assert_eq!(page["pageSize"], 15);
    assert_eq!(page["next"], 2);
    assert!(page.get("prev").is_none());
    assert_eq!(page["pages"], serde_json::json!([1, 2]));
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 15);
    assert_eq!(data[0]["id"], ids[16].as_str());
    assert_eq!(data[0]["state"], 4);
    assert!(data[0]["steps"].as_array().unwrap().is_empty());
    assert!(data[0]["outputParams"].as_array().unwrap().is_empty());
    assert_eq!(data[1]["steps"].as_array().unwrap().len(), 4);
    let second = client.get_json("/api/v2/jobs?page=2").await;
    assert_eq!(second["data"].as_array().unwrap().len(), 2);
    assert_eq!(second["prev"], 1);
    assert_eq!(second["data"][1]["id"], ids[0].as_str());
    let all = client.get_json("/api/v2/jobs").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 17);
    assert_eq!(all["pageSize"], 17);
    // Listing is no poll.
    assert_eq!(server.job(&ids[0]).unwrap().polls, 0);

    let other = Client::new(&server, &server.issue_token("bob"));
    let empty = other.get_json("/api/v2/jobs?page=1").await;
    assert_eq!(empty["count"], 0);
    assert_eq!(empty["page"], 0);
    server.stop().await;
}
