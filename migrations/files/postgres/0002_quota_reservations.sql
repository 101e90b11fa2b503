-- Each owner's storage counter: bytes stored (`used_bytes`, what `files`
-- holds with content) and bytes reserved by uploads in progress. Every
-- reservation is one conditional UPDATE of the owner's row, so concurrent
-- uploads cannot together pass the quota.
CREATE TABLE quota_usage (
    owner_user_id BIGINT PRIMARY KEY,
    used_bytes BIGINT NOT NULL DEFAULT 0,
    reserved_bytes BIGINT NOT NULL DEFAULT 0
);

INSERT INTO quota_usage (owner_user_id, used_bytes, reserved_bytes)
SELECT owner_user_id, SUM(size_bytes), 0 FROM files
WHERE content_deleted_at IS NULL
GROUP BY owner_user_id;

-- What each upload in progress has reserved (its id is the file id it will
-- have). A reservation not renewed by `expires_at` belongs to an upload that
-- died with its process: the owner's next reservation gives its bytes back.
CREATE TABLE upload_reservations (
    upload_id TEXT PRIMARY KEY,
    owner_user_id BIGINT NOT NULL,
    reserved_bytes BIGINT NOT NULL CHECK (reserved_bytes >= 0),
    expires_at BIGINT NOT NULL
);

CREATE INDEX upload_reservations_owner ON upload_reservations (owner_user_id, expires_at);
