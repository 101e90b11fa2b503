//! The store conformance suite: the same checks on SQLite and PostgreSQL.

use fip_files::store::sql::SqlStore;
use fip_files::store::*;
use fip_kit::db::TestDb;
use fip_kit::mesh::ServiceName;

async fn store() -> (TestDb, SqlStore) {
    let db = TestDb::new(ServiceName::Files, &fip_files::MIGRATIONS)
        .await
        .unwrap();
    let store = SqlStore::new(db.db.clone());
    (db, store)
}

fn record(n: u8, owner_user_id: i64) -> FileRecord {
    FileRecord {
        id: format!("01900000-0000-7000-8000-0000000000{n:02x}"),
        owner_user_id,
        job_id: String::new(),
        kind: FileKind::Input,
        name: format!("f{n}.vcf"),
        content_type: "application/gzip".into(),
        size_bytes: i64::from(n) * 100,
        sha256: "ab".repeat(32),
        object_key: format!("key-{n}"),
        created_at: 1_700_000_000_000 + i64::from(n),
        expires_at: None,
        content_deleted_at: None,
        upload_key: String::new(),
    }
}

fn query(owner_user_id: i64) -> FileQuery {
    FileQuery {
        owner_user_id,
        limit: 100,
        ..Default::default()
    }
}

#[tokio::test]
async fn files_round_trip_and_ids_are_unique() {
    let (db, s) = store().await;
    let file = FileRecord {
        expires_at: Some(1_800_000_000_000),
        job_id: "job-1".into(),
        kind: FileKind::Output,
        ..record(1, 7)
    };
    s.insert_file(&file).await.unwrap();
    assert_eq!(s.file(&file.id).await.unwrap(), Some(file.clone()));
    assert!(matches!(
        s.insert_file(&file).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        s.file("01900000-0000-7000-8000-00000000ffff")
            .await
            .unwrap(),
        None
    );
    // A job file is listed with its job from the start.
    let by_job = FileQuery {
        job_id: Some("job-1".into()),
        ..query(7)
    };
    assert_eq!(s.list_files(&by_job).await.unwrap().1, 1);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn listing_is_per_owner_newest_first_with_filters_and_cursor() {
    let (db, s) = store().await;
    for n in 1..=5 {
        s.insert_file(&record(n, 1)).await.unwrap();
    }
    s.insert_file(&FileRecord {
        kind: FileKind::Output,
        ..record(6, 1)
    })
    .await
    .unwrap();
    s.insert_file(&record(7, 2)).await.unwrap();

    let (all, total) = s.list_files(&query(1)).await.unwrap();
    assert_eq!(total, 6);
    let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["f6.vcf", "f5.vcf", "f4.vcf", "f3.vcf", "f2.vcf", "f1.vcf"]
    );

    let page = FileQuery {
        before_id: Some(all[1].id.clone()),
        limit: 2,
        ..query(1)
    };
    let (files, total) = s.list_files(&page).await.unwrap();
    assert_eq!(total, 6, "the count ignores the cursor");
    assert_eq!(files, all[2..4]);

    let outputs = FileQuery {
        kind: Some(FileKind::Output),
        ..query(1)
    };
    let (files, total) = s.list_files(&outputs).await.unwrap();
    assert_eq!((files.len(), total), (1, 1));
    assert_eq!(files[0].name, "f6.vcf");
    let inputs = FileQuery {
        kind: Some(FileKind::Input),
        ..query(1)
    };
    assert_eq!(s.list_files(&inputs).await.unwrap().1, 5);
    assert_eq!(s.list_files(&query(3)).await.unwrap().1, 0);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn job_links_are_idempotent_and_keep_the_first_job() {
    let (db, s) = store().await;
    let file = record(1, 1);
    s.insert_file(&file).await.unwrap();
    s.insert_file(&record(2, 1)).await.unwrap();
    for job in ["job-a", "job-a", "job-b"] {
        let linked = s.link_job(&file.id, job, 5).await.unwrap().unwrap();
        assert_eq!(linked.job_id, "job-a");
    }
    assert_eq!(
        s.link_job("01900000-0000-7000-8000-00000000ffff", "job-a", 5)
            .await
            .unwrap(),
        None
    );
    for job in ["job-a", "job-b"] {
        let (files, total) = s
            .list_files(&FileQuery {
                job_id: Some(job.into()),
                ..query(1)
            })
            .await
            .unwrap();
        assert_eq!(total, 1, "{job}");
        assert_eq!(files[0].id, file.id);
    }
    // Deleting the file removes its links with it.
    assert!(s.delete_file(&file.id).await.unwrap());
    assert!(!s.delete_file(&file.id).await.unwrap());
    let (files, total) = s
        .list_files(&FileQuery {
            job_id: Some("job-a".into()),
            ..query(1)
        })
        .await
        .unwrap();
    assert_eq!((files.len(), total), (0, 0));
    s.insert_file(&FileRecord {
        job_id: "job-a".into(),
        ..file.clone()
    })
    .await
    .expect("no link survives its file");
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn used_bytes_and_retention() {
    let (db, s) = store().await;
    assert_eq!(s.used_bytes(1).await.unwrap(), 0);
    let soon = FileRecord {
        expires_at: Some(1_000),
        ..record(1, 1)
    };
    let later = FileRecord {
        expires_at: Some(5_000),
        ..record(2, 1)
    };
    let kept = record(3, 1);
    for f in [&soon, &later, &kept] {
        s.insert_file(f).await.unwrap();
    }
    s.insert_file(&FileRecord {
        expires_at: Some(1),
        ..record(4, 2)
    })
    .await
    .unwrap();
    assert_eq!(s.used_bytes(1).await.unwrap(), 600);

    assert!(s.expired_files(0, 10).await.unwrap().is_empty());
    assert_eq!(s.expired_files(999, 10).await.unwrap().len(), 1);
    let due: Vec<String> = s
        .expired_files(5_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.id)
        .collect();
    assert_eq!(due, [record(4, 2).id, soon.id.clone(), later.id.clone()]);
    assert_eq!(s.expired_files(5_000, 1).await.unwrap().len(), 1);

    s.mark_content_deleted(&soon.id, 1_500).await.unwrap();
    s.mark_content_deleted(&soon.id, 9_999).await.unwrap();
    let swept = s.file(&soon.id).await.unwrap().unwrap();
    assert_eq!(
        swept.content_deleted_at,
        Some(1_500),
        "the first sweep counts"
    );
    assert!(swept.is_expired(0));
    assert_eq!(s.used_bytes(1).await.unwrap(), 500);
    assert_eq!(s.expired_files(1_000, 10).await.unwrap().len(), 1);
    db.cleanup().await.unwrap();
}

fn reservation(upload: u8, owner_user_id: i64, total_bytes: i64, now: i64) -> Reservation {
    Reservation {
        upload_id: record(upload, owner_user_id).id,
        owner_user_id,
        total_bytes,
        quota_bytes: 1_000,
        now,
        expires_at: now + 100,
    }
}

#[tokio::test]
async fn reservations_hold_the_quota_and_turn_into_used_bytes() {
    let (db, s) = store().await;
    assert_eq!(s.usage(1).await.unwrap(), Usage::default());
    // Upload 1 grows in steps; asking again for the same total is harmless.
    for total in [300, 600, 600] {
        assert_eq!(
            s.reserve(&reservation(1, 1, total, 10)).await.unwrap(),
            Reserved::Granted
        );
    }
    assert_eq!(
        s.usage(1).await.unwrap(),
        Usage {
            used_bytes: 0,
            reserved_bytes: 600
        }
    );
    // Another upload of the owner finds only what is left.
    assert_eq!(
        s.reserve(&reservation(2, 1, 401, 10)).await.unwrap(),
        Reserved::Refused {
            used_bytes: 0,
            reserved_bytes: 600
        }
    );
    assert_eq!(
        s.reserve(&reservation(2, 1, 400, 10)).await.unwrap(),
        Reserved::Granted
    );
    // Another owner has a counter of their own.
    assert_eq!(
        s.reserve(&reservation(3, 2, 1_000, 10)).await.unwrap(),
        Reserved::Granted
    );

    // Storing upload 1 (record 1 has 100 bytes) turns its reservation into used bytes.
    s.insert_file(&record(1, 1)).await.unwrap();
    assert_eq!(
        s.usage(1).await.unwrap(),
        Usage {
            used_bytes: 100,
            reserved_bytes: 400
        }
    );
    // Upload 2 breaks off: its bytes come back; releasing again changes nothing.
    s.release(1, &record(2, 1).id).await.unwrap();
    s.release(1, &record(2, 1).id).await.unwrap();
    assert_eq!(
        s.usage(1).await.unwrap(),
        Usage {
            used_bytes: 100,
            reserved_bytes: 0
        }
    );
    assert_eq!(
        s.reserve(&reservation(4, 1, 900, 10)).await.unwrap(),
        Reserved::Granted
    );
    s.release(1, &record(4, 1).id).await.unwrap();

    // Deleting a file and retention give its bytes back.
    s.insert_file(&record(5, 1)).await.unwrap();
    assert_eq!(s.usage(1).await.unwrap().used_bytes, 600);
    assert_eq!(
        s.used_bytes(1).await.unwrap(),
        600,
        "the counter agrees with the files"
    );
    assert!(s.delete_file(&record(1, 1).id).await.unwrap());
    assert!(!s.delete_file(&record(1, 1).id).await.unwrap());
    assert_eq!(s.usage(1).await.unwrap().used_bytes, 500);
    s.mark_content_deleted(&record(5, 1).id, 20).await.unwrap();
    s.mark_content_deleted(&record(5, 1).id, 30).await.unwrap();
    assert_eq!(s.usage(1).await.unwrap().used_bytes, 0);
    // A file whose content is gone no longer counts when deleted either.
    assert!(s.delete_file(&record(5, 1).id).await.unwrap());
    assert_eq!(
        s.usage(1).await.unwrap(),
        Usage::default(),
        "nothing left over"
    );
    assert_eq!(s.usage(2).await.unwrap().reserved_bytes, 1_000);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn a_reservation_nobody_renews_is_given_back_when_it_expires() {
    let (db, s) = store().await;
    // An upload that died with its process, holding 800 bytes until 110.
    assert_eq!(
        s.reserve(&reservation(1, 1, 800, 10)).await.unwrap(),
        Reserved::Granted
    );
    assert!(matches!(
        s.reserve(&reservation(2, 1, 800, 109)).await.unwrap(),
        Reserved::Refused { .. }
    ));
    // Once expired, the owner's next reservation reclaims it.
    assert_eq!(
        s.reserve(&reservation(2, 1, 800, 110)).await.unwrap(),
        Reserved::Granted
    );
    assert_eq!(s.usage(1).await.unwrap().reserved_bytes, 800);
    // A live upload renews its own reservation however old it is; one that
    // lost it to expiry asks for its whole total again.
    assert_eq!(
        s.reserve(&reservation(2, 1, 900, 500)).await.unwrap(),
        Reserved::Granted
    );
    assert_eq!(s.usage(1).await.unwrap().reserved_bytes, 900);
    assert!(matches!(
        s.reserve(&reservation(1, 1, 800, 500)).await.unwrap(),
        Reserved::Refused { .. }
    ));
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn concurrent_reservations_never_pass_the_quota_together() {
    let (db, s) = store().await;
    let s = std::sync::Arc::new(s);
    // Eight uploads of 900 bytes against a quota of 1,000, all at once.
    let attempts = (1..=8u8).map(|n| {
        let s = s.clone();
        tokio::spawn(async move { s.reserve(&reservation(n, 1, 900, 10)).await.unwrap() })
    });
    let answers = futures::future::join_all(attempts).await;
    let granted = answers
        .into_iter()
        .filter(|a| *a.as_ref().unwrap() == Reserved::Granted)
        .count();
    assert_eq!(granted, 1);
    assert_eq!(s.usage(1).await.unwrap().reserved_bytes, 900);
    db.cleanup().await.unwrap();
}

#[tokio::test]
async fn an_upload_key_names_one_file_per_job() {
    let (db, s) = store().await;
    let keyed = |n: u8, job: &str, key: &str| FileRecord {
        job_id: job.into(),
        kind: FileKind::Output,
        upload_key: key.into(),
        ..record(n, 1)
    };
    let first = keyed(1, "job-1", "chr_20.zip/chr20.dose.vcf.gz");
    s.insert_file(&first).await.unwrap();
    assert_eq!(
        s.file_by_key("job-1", "chr_20.zip/chr20.dose.vcf.gz")
            .await
            .unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        s.file_by_key("job-2", "chr_20.zip/chr20.dose.vcf.gz")
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.file_by_key("job-1", "").await.unwrap(), None);
    // A second file under the key is not recorded, and its bytes not counted.
    match s
        .insert_file(&keyed(2, "job-1", "chr_20.zip/chr20.dose.vcf.gz"))
        .await
    {
        Err(StoreError::KeyTaken(existing)) => assert_eq!(*existing, first),
        other => panic!("expected the key to be taken, got {other:?}"),
    }
    assert_eq!(s.usage(1).await.unwrap().used_bytes, 100);
    // The same key in another job, and files without keys, are recorded.
    s.insert_file(&keyed(3, "job-2", "chr_20.zip/chr20.dose.vcf.gz"))
        .await
        .unwrap();
    s.insert_file(&keyed(4, "job-1", "")).await.unwrap();
    s.insert_file(&keyed(5, "job-1", "")).await.unwrap();
    assert_eq!(s.list_files(&query(1)).await.unwrap().1, 4);
    db.cleanup().await.unwrap();
}
