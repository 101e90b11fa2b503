-- The remote outputs of a job whose files are all stored and recorded, by
-- the name the server gives each: a fetch that stops (a crash, a failing
-- server) resumes with the outputs not listed here.
CREATE TABLE job_fetched_outputs (
    job_id     TEXT   NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    output     TEXT   NOT NULL,
    fetched_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, output)
);
