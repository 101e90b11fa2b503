-- The email outbox: every mail is stored, rendered, before it is sent, and a
-- sender delivers it later (with retries). A sender claims a mail by taking
-- its lease (`lease_owner`, `lease_until`); another sender takes it over
-- only once the lease has expired. Timestamps are UTC milliseconds.
--
-- status: pending (to send, at `next_attempt_at`), held (over the user's
-- rate limit: waits for the next digest), digested (sent within the digest
-- `digest_id`), sent, failed (refused for good, or out of attempts).

CREATE TABLE email_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The notification mailed; NULL for a digest.
    notification_id BIGINT REFERENCES notifications (id) ON DELETE CASCADE,
    user_id         BIGINT NOT NULL,
    -- Stable across retries, so a receiver can tell a repeat.
    message_id      TEXT   NOT NULL UNIQUE,
    to_address      TEXT   NOT NULL,
    to_name         TEXT   NOT NULL,
    subject         TEXT   NOT NULL,
    body_text       TEXT   NOT NULL,
    body_html       TEXT   NOT NULL,
    -- The web UI path the mail links to; empty for none.
    action_url      TEXT   NOT NULL DEFAULT '',
    status          TEXT   NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT NOT NULL DEFAULT 0,
    last_error      TEXT   NOT NULL DEFAULT '',
    digest_id       BIGINT,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT
);

CREATE INDEX email_outbox_due ON email_outbox (status, next_attempt_at);
CREATE INDEX email_outbox_by_user ON email_outbox (user_id, created_at);
CREATE INDEX email_outbox_by_notification ON email_outbox (notification_id);
