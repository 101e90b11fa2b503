-- Sessions: one per sign-in, renewed by rotating refresh tokens until it
-- ends (sign-out, revocation, password or role change, deactivation, a
-- replayed refresh token) or expires. Access tokens name their session
-- (`sid`) and are refused once it has ended. Refresh tokens are stored only
-- as SHA-256 hashes; the spent ones are kept so that a replay is recognised
-- and ends its session. Timestamps are UTC milliseconds since the epoch.

CREATE TABLE sessions (
    id             TEXT    PRIMARY KEY,
    user_id        BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    refresh_hash   TEXT    NOT NULL UNIQUE,
    created_at     BIGINT  NOT NULL,
    refreshed_at   BIGINT  NOT NULL,
    expires_at     BIGINT  NOT NULL,
    ended_at       BIGINT,
    end_reason     TEXT    NOT NULL DEFAULT '',
    client_address TEXT    NOT NULL DEFAULT '',
    user_agent     TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX sessions_by_user ON sessions (user_id, created_at);

CREATE TABLE spent_refresh_tokens (
    refresh_hash TEXT PRIMARY KEY,
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE
);

-- Login throttling is now kept per (account, address) pair and per
-- address; the former per-login-string rows mean nothing any more.
DELETE FROM login_throttle;
