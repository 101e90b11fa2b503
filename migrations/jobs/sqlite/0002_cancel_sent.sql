-- When the worker asked the external server to cancel a run. Some servers
-- (WES) take the request and go on: the worker follows the run until it
-- ends, and asks only once.
ALTER TABLE jobs ADD COLUMN cancel_sent_at BIGINT;
