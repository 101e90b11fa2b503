-- The web inbox, the outcome of each delivery channel, and each user's
-- notification preferences. Timestamps are UTC milliseconds since the epoch.
-- Users live in the user service: `user_id` is its account id, with no
-- foreign key across services.

CREATE TABLE notifications (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           BIGINT  NOT NULL,
    notification_type TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    message           TEXT    NOT NULL,
    job_id            TEXT    NOT NULL DEFAULT '',
    service_id        BIGINT  NOT NULL DEFAULT 0,
    action_url        TEXT    NOT NULL DEFAULT '',
    action_label      TEXT    NOT NULL DEFAULT '',
    -- Shown in the web inbox (and streamed): false when the web channel was
    -- not asked for or the user's preferences turned it off.
    in_inbox          INTEGER NOT NULL,
    created_at        BIGINT  NOT NULL,
    read_at           BIGINT,
    -- The sender's idempotency key; NULL when none (NULLs never collide).
    dedup_key         TEXT,
    UNIQUE (user_id, dedup_key)
);

CREATE INDEX notifications_by_user ON notifications (user_id, id);
CREATE INDEX notifications_unread ON notifications (user_id, read_at);

CREATE TABLE notification_deliveries (
    notification_id BIGINT NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    channel         TEXT   NOT NULL,
    outcome         TEXT   NOT NULL,
    error           TEXT   NOT NULL DEFAULT '',
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (notification_id, channel)
);

CREATE TABLE notification_preferences (
    user_id                   BIGINT  NOT NULL PRIMARY KEY,
    web_enabled               INTEGER NOT NULL,
    email_on_job_completed    INTEGER NOT NULL,
    email_on_job_failed       INTEGER NOT NULL,
    email_on_job_cancelled    INTEGER NOT NULL,
    email_on_credential_issue INTEGER NOT NULL,
    email_address             TEXT    NOT NULL DEFAULT '',
    updated_at                BIGINT  NOT NULL
);
