-- Settled runs beyond orchestration.keep_finished_runs are deleted, oldest first
-- (SqlRunReports::forget_settled_beyond): this index finds them without reading every run.
-- Written in the SQL that SQLite and PostgreSQL both accept.
CREATE INDEX IF NOT EXISTS orchestration_runs_settled_updated_at
    ON orchestration_runs (settled, updated_at);
