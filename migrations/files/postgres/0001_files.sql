-- Stored files: metadata only; the content lives in the object store under
-- `object_key`. A row exists only once its object is complete.
CREATE TABLE files (
    id TEXT PRIMARY KEY,
    owner_user_id BIGINT NOT NULL,
    -- The producing job, or the first job an input was linked to ('' if none).
    job_id TEXT NOT NULL DEFAULT '',
    -- 'input' or 'output'.
    kind TEXT NOT NULL CHECK (kind IN ('input', 'output')),
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes >= 0),
    sha256 TEXT NOT NULL,
    object_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    -- Retention: the content is deleted after this time (NULL: kept).
    expires_at BIGINT,
    -- When retention deleted the content (the metadata stays).
    content_deleted_at BIGINT
);

CREATE INDEX files_owner ON files (owner_user_id, id);
CREATE INDEX files_expiry ON files (expires_at) WHERE content_deleted_at IS NULL;

-- Every job a file belongs to (an input may serve several jobs).
CREATE TABLE file_jobs (
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    job_id TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (file_id, job_id)
);

CREATE INDEX file_jobs_job ON file_jobs (job_id);
