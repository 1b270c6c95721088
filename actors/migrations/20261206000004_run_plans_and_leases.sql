-- What a replica needs to resume a run another one (or an earlier process) left unfinished:
-- the plan as submitted, and the owner's lease, renewed by its heartbeat; a run whose lease
-- has passed may be claimed. Written in the SQL that SQLite and PostgreSQL both accept.
ALTER TABLE orchestration_runs ADD COLUMN plan TEXT;
ALTER TABLE orchestration_runs ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
