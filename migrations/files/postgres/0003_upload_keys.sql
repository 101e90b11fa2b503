-- The caller's key of a job's upload (`JobFileMetadata.idempotency_key`,
-- '' when none): one file per key and job, so that a retried upload finds
-- the file stored before instead of storing a copy.
ALTER TABLE files ADD COLUMN upload_key TEXT NOT NULL DEFAULT '';

CREATE UNIQUE INDEX files_job_upload_key ON files (job_id, upload_key) WHERE upload_key <> '';
