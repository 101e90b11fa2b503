-- Jobs, their history, logs, results and QC. Timestamps are UTC
-- milliseconds since the epoch; booleans are 0/1.

CREATE TABLE jobs (
    id                   TEXT    PRIMARY KEY,
    user_id              BIGINT  NOT NULL,
    parent_job_id        TEXT    REFERENCES jobs (id) ON DELETE CASCADE,
    request_id           TEXT,
    name                 TEXT    NOT NULL,
    service_id           BIGINT  NOT NULL,
    service_name         TEXT    NOT NULL DEFAULT '',
    api_type             TEXT    NOT NULL DEFAULT '',
    base_url             TEXT    NOT NULL DEFAULT '',
    reference_panel_id   BIGINT  NOT NULL,
    panel_name           TEXT    NOT NULL DEFAULT '',
    panel_slug           TEXT    NOT NULL DEFAULT '',
    build                TEXT    NOT NULL DEFAULT '',
    phasing              TEXT    NOT NULL DEFAULT '',
    population           TEXT    NOT NULL DEFAULT '',
    mode                 TEXT    NOT NULL DEFAULT 'imputation',
    r2_filter            DOUBLE PRECISION,
    status               TEXT    NOT NULL,
    progress             BIGINT  NOT NULL DEFAULT 0,
    phase                TEXT    NOT NULL DEFAULT 'new',
    external_job_id      TEXT    NOT NULL DEFAULT '',
    remote_code          BIGINT,
    remote_state         TEXT    NOT NULL DEFAULT '',
    remote_position      BIGINT,
    current_step         TEXT    NOT NULL DEFAULT '',
    remote_observed_at   BIGINT,
    error_message        TEXT    NOT NULL DEFAULT '',
    error_reason         TEXT    NOT NULL DEFAULT '',
    error_action         TEXT    NOT NULL DEFAULT '',
    error_action_url     TEXT    NOT NULL DEFAULT '',
    input_file_id        TEXT    NOT NULL DEFAULT '',
    input_summary        BLOB,
    secret_key_id        TEXT    NOT NULL DEFAULT '',
    secret_nonce         BLOB,
    secret_sealed        BLOB,
    submit_started_at    BIGINT,
    attempts             BIGINT  NOT NULL DEFAULT 0,
    next_poll_at         BIGINT  NOT NULL DEFAULT 0,
    poll_failures        BIGINT  NOT NULL DEFAULT 0,
    log_cursor           BIGINT  NOT NULL DEFAULT 0,
    created_at           BIGINT  NOT NULL,
    updated_at           BIGINT  NOT NULL,
    started_at           BIGINT,
    completed_at         BIGINT,
    cancel_requested_at  BIGINT,
    results_expire_at    BIGINT
);

CREATE INDEX jobs_user_created ON jobs (user_id, created_at);
CREATE INDEX jobs_parent ON jobs (parent_job_id);
CREATE INDEX jobs_status ON jobs (status);
CREATE UNIQUE INDEX jobs_request ON jobs (user_id, request_id);

CREATE TABLE job_status_updates (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    status     TEXT    NOT NULL,
    progress   BIGINT  NOT NULL,
    message    TEXT    NOT NULL DEFAULT '',
    created_at BIGINT  NOT NULL
);
CREATE INDEX job_status_updates_job ON job_status_updates (job_id, id);

CREATE TABLE job_logs (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id    TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    source    TEXT    NOT NULL,
    step_name TEXT    NOT NULL DEFAULT '',
    type      TEXT    NOT NULL,
    message   TEXT    NOT NULL,
    time      BIGINT  NOT NULL
);
CREATE INDEX job_logs_job ON job_logs (job_id, id);

CREATE TABLE job_results (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id       TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    file_id      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    size_bytes   BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL DEFAULT '',
    chromosome   TEXT    NOT NULL DEFAULT '',
    content_type TEXT    NOT NULL DEFAULT '',
    created_at   BIGINT  NOT NULL,
    UNIQUE (job_id, name)
);

CREATE TABLE job_qc (
    job_id         TEXT   NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    chromosome     TEXT   NOT NULL,
    variant_count  BIGINT NOT NULL,
    typed_count    BIGINT NOT NULL DEFAULT 0,
    mean_r2        DOUBLE PRECISION NOT NULL,
    count_r2_ge_03 BIGINT NOT NULL,
    count_r2_ge_08 BIGINT NOT NULL,
    PRIMARY KEY (job_id, chromosome)
);
