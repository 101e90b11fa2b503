-- A row whose second insertion violates the primary key.
INSERT INTO accounts (id, name) VALUES (1, 'root');
ALTER TABLE accounts ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
