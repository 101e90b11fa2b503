-- Plain CREATEs (no IF NOT EXISTS): run twice, they fail.
CREATE TABLE accounts (
    id BIGINT PRIMARY KEY,
    name TEXT NOT NULL
);
CREATE UNIQUE INDEX accounts_name ON accounts (name);
