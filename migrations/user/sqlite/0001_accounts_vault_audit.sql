-- Accounts, roles, the service-credential vault, login throttling and the
-- audit log. Timestamps are UTC milliseconds since the epoch.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    first_name    TEXT    NOT NULL DEFAULT '',
    last_name     TEXT    NOT NULL DEFAULT '',
    institution   TEXT    NOT NULL DEFAULT '',
    department    TEXT    NOT NULL DEFAULT '',
    is_active     INTEGER NOT NULL DEFAULT TRUE,
    date_joined   BIGINT  NOT NULL,
    last_login    BIGINT
);

CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role    TEXT    NOT NULL,
    PRIMARY KEY (user_id, role)
);

CREATE TABLE service_credentials (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id            INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    service_id         BIGINT  NOT NULL,
    credential_type    TEXT    NOT NULL,
    label              TEXT    NOT NULL DEFAULT '',
    is_active          INTEGER NOT NULL DEFAULT TRUE,
    is_verified        INTEGER NOT NULL DEFAULT FALSE,
    last_verified_at   BIGINT,
    last_used_at       BIGINT,
    verification_error TEXT    NOT NULL DEFAULT '',
    remote_username    TEXT    NOT NULL DEFAULT '',
    expires_at         BIGINT,
    masked_token       TEXT    NOT NULL DEFAULT '',
    has_api_token      INTEGER NOT NULL DEFAULT FALSE,
    has_basic_auth     INTEGER NOT NULL DEFAULT FALSE,
    has_oauth_token    INTEGER NOT NULL DEFAULT FALSE,
    key_id             TEXT    NOT NULL,
    nonce              BLOB    NOT NULL,
    ciphertext         BLOB    NOT NULL,
    created_at         BIGINT  NOT NULL,
    updated_at         BIGINT  NOT NULL,
    UNIQUE (user_id, service_id)
);

CREATE TABLE login_throttle (
    scope            TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    failures         BIGINT  NOT NULL,
    first_failure_at BIGINT  NOT NULL,
    locked_until     BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, subject)
);

CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        BIGINT,
    actor          TEXT    NOT NULL,
    actor_user_id  BIGINT,
    action         TEXT    NOT NULL,
    resource_type  TEXT    NOT NULL DEFAULT '',
    resource_id    TEXT    NOT NULL DEFAULT '',
    outcome        TEXT    NOT NULL,
    client_address TEXT    NOT NULL DEFAULT '',
    user_agent     TEXT    NOT NULL DEFAULT '',
    summary        TEXT    NOT NULL DEFAULT '',
    changed_fields TEXT    NOT NULL DEFAULT '',
    service_id     BIGINT,
    job_id         TEXT    NOT NULL DEFAULT '',
    previous_roles TEXT    NOT NULL DEFAULT '',
    new_roles      TEXT    NOT NULL DEFAULT '',
    error_reason   TEXT    NOT NULL DEFAULT '',
    created_at     BIGINT  NOT NULL
);

CREATE UNIQUE INDEX users_username_ci ON users (lower(username));
CREATE UNIQUE INDEX users_email_ci ON users (lower(email));

CREATE INDEX audit_events_user ON audit_events (user_id, id);
CREATE INDEX audit_events_created ON audit_events (created_at);
