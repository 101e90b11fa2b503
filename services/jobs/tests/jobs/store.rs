//! The store conformance suite.

use fip_jobs::model::*;
use fip_jobs::store::sql::SqlStore;
use fip_jobs::store::{JobFilter, LogFilter, Store, StoreError};
use fip_kit::db::TestDb;
use fip_kit::mesh::ServiceName;
use fip_kit::vault::Sealed;

async fn store() -> (TestDb, SqlStore) {
    let db = TestDb::new(ServiceName::Jobs, &fip_jobs::MIGRATIONS)
        .await
        .unwrap();
    let store = SqlStore::new(db.db.clone());
    (db, store)
}

/// Creates `job` alone, with the history entry "accepted".
async fn accept(s: &SqlStore, job: &Job) {
    s.create_jobs(std::slice::from_ref(job), "accepted")
        .await
        .unwrap();
}

fn job(user: i64, created_at: i64) -> Job {
    Job {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user,
        parent_job_id: None,
        request_id: None,
        name: format!("job of {user} at {created_at}"),
        service_id: 1,
        service_name: "H3Africa".into(),
        api_type: Some(ApiType::Michigan),
        base_url: "https://impute.example".into(),
        reference_panel_id: 2,
        panel_name: "H3Africa v6".into(),
        panel_slug: "apps@h3africa-v6hc-s@1.0.0".into(),
        build: Some(GenomeBuild::Hg38),
        phasing: Some(Phasing::Eagle),
        population: "AFR".into(),
        mode: Mode::Imputation,
        r2_filter: Some(0.3),
        status: Status::Pending,
        progress: 0,
        phase: Phase::New,
        external_job_id: String::new(),
        remote_code: None,
        remote_state: String::new(),
        remote_position: None,
        current_step: String::new(),
        remote_observed_at: None,
        error_message: String::new(),
        error_reason: None,
        error_action: ErrorAction::None,
        error_action_url: String::new(),
        input_file_id: uuid::Uuid::now_v7().to_string(),
        input_summary: Some(vec![1, 2, 3]),
        secret: None,
        submit_started_at: None,
        attempts: 0,
        next_poll_at: 0,
        poll_failures: 0,
        log_cursor: 0,
        created_at,
        updated_at: created_at,
        started_at: None,
        completed_at: None,
        cancel_requested_at: None,
        cancel_sent_at: None,
        cancel_polls: 0,
        results_expire_at: None,
    }
}

#[tokio::test]
async fn jobs_round_trip_with_every_field() {
    let (db, s) = store().await;
    let mut j = job(1, 1000);
    s.create_jobs(std::slice::from_ref(&j), "job accepted")
        .await
        .unwrap();
    assert_eq!(s.job(&j.id).await.unwrap().unwrap(), j);
    j.status = Status::Running;
    j.phase = Phase::Submitted;
    j.external_job_id = "job-20251016-224029-866".into();
    j.remote_code = Some(2);
    j.remote_state = "RUNNING".into();
    j.remote_position = Some(3);
    j.error_action = ErrorAction::UpdateCredentials;
    j.secret = Some(Sealed {
        key_id: "k1".into(),
        nonce: vec![7; 12],
        ciphertext: vec![1, 2, 3, 4],
    });
    j.started_at = Some(1500);
    j.r2_filter = None;
    j.updated_at = 2000;
    let update = s.save(&j, Some("running")).await.unwrap();
    assert!(update.is_some());
    assert_eq!(s.job(&j.id).await.unwrap().unwrap(), j);
    let history = s.status_updates(&j.id, 0, 10).await.unwrap();
    assert_eq!(
        history
            .iter()
            .map(|u| (u.status, u.message.as_str()))
            .collect::<Vec<_>>(),
        vec![
            (Status::Pending, "job accepted"),
            (Status::Running, "running")
        ]
    );
    assert!(s.save(&j, None).await.unwrap().is_none());
    assert_eq!(
        s.status_updates(&j.id, history[0].id, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(s.job("no-such-job").await.unwrap().is_none());
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn request_ids_are_unique_per_user() {
    let (db, s) = store().await;
    let mut a = job(1, 1);
    a.request_id = Some("req-1".into());
    accept(&s, &a).await;
    let mut again = job(1, 2);
    again.request_id = Some("req-1".into());
    assert!(matches!(
        s.create_jobs(&[again], "accepted").await,
        Err(StoreError::DuplicateRequest)
    ));
    let mut other_user = job(2, 3);
    other_user.request_id = Some("req-1".into());
    s.create_jobs(&[other_user], "accepted").await.unwrap();
    assert_eq!(
        s.job_by_request(1, "req-1").await.unwrap().unwrap().id,
        a.id
    );
    assert!(s.job_by_request(3, "req-1").await.unwrap().is_none());
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_cancel_request_survives_the_workers_writes() {
    let (db, s) = store().await;
    // A job the worker is driving: the request is recorded, nothing else.
    let mut driven = job(1, 1);
    driven.status = Status::Running;
    driven.phase = Phase::Submitting;
    accept(&s, &driven).await;
    assert!(!s.request_cancel(&driven.id, 50).await.unwrap());
    // The worker writes what it read before the request: the request stays.
    driven.phase = Phase::Submitted;
    driven.external_job_id = "run-1".into();
    s.save(&driven, None).await.unwrap();
    let stored = s.job(&driven.id).await.unwrap().unwrap();
    assert_eq!(stored.cancel_requested_at, Some(50));
    assert_eq!(stored.external_job_id, "run-1");
    assert!(!s.request_cancel(&driven.id, 60).await.unwrap());
    assert_eq!(
        s.job(&driven.id)
            .await
            .unwrap()
            .unwrap()
            .cancel_requested_at,
        Some(50),
        "the first request counts"
    );

    // A job nothing worked on ends at once; a late write of it is refused.
    let mut fresh = job(1, 2);
    fresh.status = Status::Queued;
    accept(&s, &fresh).await;
    assert!(s.request_cancel(&fresh.id, 70).await.unwrap());
    let ended = s.job(&fresh.id).await.unwrap().unwrap();
    assert_eq!(
        (ended.status, ended.phase, ended.completed_at),
        (Status::Cancelled, Phase::Done, Some(70))
    );
    let mut late = fresh.clone();
    late.status = Status::Running;
    assert!(matches!(
        s.save(&late, Some("preparing")).await,
        Err(StoreError::Ended(id)) if id == fresh.id
    ));
    assert_eq!(
        s.job(&fresh.id).await.unwrap().unwrap().status,
        Status::Cancelled
    );
    let history = s.status_updates(&fresh.id, 0, 10).await.unwrap();
    assert_eq!(
        history.last().map(|u| u.message.as_str()),
        Some("cancelled by the user")
    );
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_save_derived_from_a_stale_read_is_refused() {
    let (db, s) = store().await;
    let mut parent = job(1, 1);
    parent.status = Status::Running;
    accept(&s, &parent).await;
    let read = s.job(&parent.id).await.unwrap().unwrap();

    // Two writers derive from the same read; the first one's save stands.
    let mut first = read.clone();
    first.progress = 100;
    first.status = Status::Completed;
    first.updated_at = 10;
    let mut second = read.clone();
    second.progress = 50;
    second.updated_at = 11;
    s.save_unchanged(&second, &read, Some("targets are running"))
        .await
        .unwrap();
    assert!(matches!(
        s.save_unchanged(&first, &read, Some("every target completed")).await,
        Err(StoreError::Changed(id)) if id == parent.id
    ));
    let stored = s.job(&parent.id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.progress), (Status::Running, 50));
    let messages: Vec<String> = s
        .status_updates(&parent.id, 0, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.message)
        .collect();
    assert_eq!(messages, ["accepted", "targets are running"]);

    // Derived again from what is stored now, it is saved.
    s.save_unchanged(&first, &stored, Some("every target completed"))
        .await
        .unwrap();
    let done = s.job(&parent.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.progress), (Status::Completed, 100));

    // A job that has ended is reported as such, not as changed.
    let mut ended = job(1, 2);
    ended.status = Status::Queued;
    accept(&s, &ended).await;
    let ended_read = s.job(&ended.id).await.unwrap().unwrap();
    assert!(s.request_cancel(&ended.id, 30).await.unwrap());
    let mut after = ended_read.clone();
    after.status = Status::Running;
    assert!(matches!(
        s.save_unchanged(&after, &ended_read, None).await,
        Err(StoreError::Ended(id)) if id == ended.id
    ));
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn listing_filters_and_pages_newest_first() {
    let (db, s) = store().await;
    let mut all = Vec::new();
    for (i, user) in [1, 1, 2, 1, 1].into_iter().enumerate() {
        let mut j = job(user, 100 + i as i64);
        if i == 3 {
            j.status = Status::Completed;
            j.service_id = 9;
        }
        all.push(j);
    }
    s.create_jobs(&all, "accepted").await.unwrap();
    let mine = JobFilter {
        user_id: Some(1),
        limit: 2,
        ..Default::default()
    };
    let (page, total) = s.list_jobs(&mine).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        page.iter().map(|j| j.created_at).collect::<Vec<_>>(),
        vec![104, 103]
    );
    let last = page.last().unwrap();
    let (next, _) = s
        .list_jobs(&JobFilter {
            before: Some((last.created_at, last.id.clone())),
            ..mine.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|j| j.created_at).collect::<Vec<_>>(),
        vec![101, 100]
    );
    let (done, n) = s
        .list_jobs(&JobFilter {
            user_id: Some(1),
            statuses: vec![Status::Completed],
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((done.len(), n), (1, 1));
    let (by_service, _) = s
        .list_jobs(&JobFilter {
            service_id: Some(9),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_service.len(), 1);
    let (window, _) = s
        .list_jobs(&JobFilter {
            created_after: Some(101),
            created_before: Some(103),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(window.len(), 2);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn parents_children_and_the_unfinished() {
    let (db, s) = store().await;
    let parent = job(1, 10);
    let mut a = job(1, 11);
    a.parent_job_id = Some(parent.id.clone());
    let mut b = job(1, 12);
    b.parent_job_id = Some(parent.id.clone());
    b.status = Status::Failed;
    let lone = job(1, 13);
    s.create_jobs(
        &[parent.clone(), a.clone(), b.clone(), lone.clone()],
        "accepted",
    )
    .await
    .unwrap();
    let children: Vec<String> = s
        .children(&parent.id)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(children, vec![a.id.clone(), b.id.clone()]);
    let unfinished: Vec<String> = s
        .unfinished()
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        unfinished,
        vec![a.id.clone(), lone.id.clone()],
        "parents and final jobs are not driven"
    );
    let (top, _) = s
        .list_jobs(&JobFilter {
            top_level_only: true,
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(top.len(), 2);
    let counts = s.counts(Some(1), None).await.unwrap();
    let total: i64 = counts.by_status.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 2, "a multi-service job counts once");
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn logs_results_and_qc() {
    let (db, s) = store().await;
    let j = job(1, 1);
    accept(&s, &j).await;
    let entry = |t: LogType, m: &str| LogEntry {
        id: 0,
        job_id: j.id.clone(),
        source: if t == LogType::Info {
            LogSource::Hub
        } else {
            LogSource::Remote
        },
        step_name: "Input Validation".into(),
        log_type: t,
        message: m.into(),
        time: 5,
    };
    let saved = s
        .add_logs(&[
            entry(LogType::Ok, "ok"),
            entry(LogType::Error, "bad"),
            entry(LogType::Info, "hub"),
        ])
        .await
        .unwrap();
    assert!(saved.windows(2).all(|w| w[0].id < w[1].id));
    let errors = s
        .logs(
            &j.id,
            &LogFilter {
                types: vec![LogType::Error],
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].message, "bad");
    let hub = s
        .logs(
            &j.id,
            &LogFilter {
                source: Some(LogSource::Hub),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(hub.len(), 1);
    let after = s
        .logs(
            &j.id,
            &LogFilter {
                after_id: saved[0].id,
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(after.len(), 2);

    let file = ResultFile {
        file_id: "f1".into(),
        name: "chr20.dose.vcf.gz".into(),
        kind: "imputed_genotypes".into(),
        size_bytes: 10,
        sha256: "ab".into(),
        chromosome: "chr20".into(),
        content_type: "application/gzip".into(),
        created_at: 1,
    };
    s.put_result(&j.id, &file).await.unwrap();
    s.put_result(
        &j.id,
        &ResultFile {
            file_id: "f2".into(),
            ..file.clone()
        },
    )
    .await
    .unwrap();
    for (chr, n) in [("chr9", 5), ("chr20", 7), ("chrX", 1)] {
        s.put_qc(
            &j.id,
            &ChromosomeQc {
                chromosome: chr.into(),
                variant_count: n,
                typed_count: 0,
                mean_r2: 0.5,
                count_r2_ge_03: n,
                count_r2_ge_08: 0,
            },
        )
        .await
        .unwrap();
    }
    let (files, qc) = s.results(&j.id).await.unwrap();
    assert_eq!(files.len(), 1, "same name replaces");
    assert_eq!(files[0].file_id, "f2");
    assert_eq!(
        qc.iter().map(|q| q.chromosome.as_str()).collect::<Vec<_>>(),
        vec!["chr9", "chr20", "chrX"],
        "chromosome order, not text order"
    );
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn fetched_outputs_are_recorded_once_and_cleared_with_the_results() {
    let (db, s) = store().await;
    let j = job(1, 1);
    let other = job(1, 2);
    accept(&s, &j).await;
    accept(&s, &other).await;
    assert!(s.fetched_outputs(&j.id).await.unwrap().is_empty());
    for output in ["chr_20.zip", "qc_report.txt", "chr_20.zip"] {
        s.mark_output_fetched(&j.id, output, 7).await.unwrap();
    }
    s.mark_output_fetched(&other.id, "chr_21.zip", 7)
        .await
        .unwrap();
    assert_eq!(
        s.fetched_outputs(&j.id).await.unwrap(),
        ["chr_20.zip", "qc_report.txt"]
    );
    let result = ResultFile {
        file_id: uuid::Uuid::now_v7().to_string(),
        name: "chr20.dose.vcf.gz".into(),
        kind: "imputed_genotypes".into(),
        size_bytes: 10,
        sha256: "ab".repeat(32),
        chromosome: "chr20".into(),
        content_type: "application/gzip".into(),
        created_at: 7,
    };
    let qc = ChromosomeQc {
        chromosome: "chr20".into(),
        variant_count: 10,
        typed_count: 2,
        mean_r2: 0.5,
        count_r2_ge_03: 6,
        count_r2_ge_08: 3,
    };
    for id in [&j.id, &other.id] {
        s.put_result(id, &result).await.unwrap();
        s.put_qc(id, &qc).await.unwrap();
    }
    s.clear_results(&j.id).await.unwrap();
    let (files, figures) = s.results(&j.id).await.unwrap();
    assert!(files.is_empty() && figures.is_empty());
    assert!(s.fetched_outputs(&j.id).await.unwrap().is_empty());
    // Another job's are untouched.
    let (files, figures) = s.results(&other.id).await.unwrap();
    assert_eq!((files.len(), figures.len()), (1, 1));
    assert_eq!(s.fetched_outputs(&other.id).await.unwrap(), ["chr_21.zip"]);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn the_completion_notice_carries_the_qc_summary_when_the_results_have_one() {
    let (db, s) = store().await;
    let with_qc = job(1, 1);
    let without = job(1, 2);
    accept(&s, &with_qc).await;
    accept(&s, &without).await;
    for (chr, n, r2, good) in [("chr20", 10, 0.5, 3), ("chr21", 30, 0.9, 20)] {
        s.put_qc(
            &with_qc.id,
            &ChromosomeQc {
                chromosome: chr.into(),
                variant_count: n,
                typed_count: 1,
                mean_r2: r2,
                count_r2_ge_03: n,
                count_r2_ge_08: good,
            },
        )
        .await
        .unwrap();
    }
    let (sentence, qc) = fip_jobs::results::completion_summary(&s, &with_qc.id).await;
    assert_eq!(
        sentence,
        "0 result files over 2 chromosomes; 40 imputed variants, 23 with R² ≥ 0.8"
    );
    let qc = qc.expect("a QC summary");
    assert_eq!(qc.variant_count, 40);
    assert_eq!(qc.count_r2_ge_0_8, 23);
    assert!((qc.mean_r2 - 0.8).abs() < 1e-9, "weighted by variants");
    assert_eq!(
        qc.chromosomes
            .iter()
            .map(|c| c.chromosome.as_str())
            .collect::<Vec<_>>(),
        ["chr20", "chr21"]
    );
    let (sentence, qc) = fip_jobs::results::completion_summary(&s, &without.id).await;
    assert_eq!(sentence, "0 result files are ready");
    assert!(qc.is_none(), "no QC, no summary");
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn stored_vocabulary_round_trips_and_unknown_words_are_refused() {
    let (db, s) = store().await;
    let mut j = job(1, 1);
    j.phasing = None;
    j.mode = Mode::QcOnly;
    j.error_reason = Some(FailureReason::UpstreamFailed);
    j.api_type = Some(ApiType::Ga4ghWes);
    j.build = Some(GenomeBuild::Hg19);
    accept(&s, &j).await;
    assert_eq!(s.job(&j.id).await.unwrap().as_ref(), Some(&j));
    for (column, value) in [
        ("build", "hg37"),
        ("api_type", "soap"),
        ("phasing", "shapeit"),
        ("mode", "turbo"),
        ("error_reason", "OOPS"),
    ] {
        let other = job(1, 2);
        accept(&s, &other).await;
        sqlx::query(&format!("UPDATE jobs SET {column} = $1 WHERE id = $2"))
            .bind(value)
            .bind(other.id.clone())
            .execute(&db.db.pool)
            .await
            .unwrap();
        let error = s.job(&other.id).await.expect_err(column);
        assert!(
            error.to_string().contains(value),
            "{column}: the error names the unknown value: {error}"
        );
    }
    db.cleanup().await.unwrap();
}
