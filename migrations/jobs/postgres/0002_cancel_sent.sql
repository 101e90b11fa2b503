-- When the worker asked the external server to cancel a run, and how often
-- it has looked at the run since. Some servers (WES) take the request and go
-- on: the worker follows the run until it ends, asks only once, and tells the
-- user now and then that the server has not stopped it.
ALTER TABLE jobs ADD COLUMN cancel_sent_at BIGINT;
ALTER TABLE jobs ADD COLUMN cancel_polls BIGINT NOT NULL DEFAULT 0;
