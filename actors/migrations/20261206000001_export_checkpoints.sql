-- Export checkpoints: one row per export job (seed 003), shared by every replica.
-- Written in the SQL that SQLite and PostgreSQL both accept.
CREATE TABLE IF NOT EXISTS export_checkpoints (
    export_job_id TEXT PRIMARY KEY,
    report_id TEXT NOT NULL,
    next_offset BIGINT NOT NULL,
    -- The baseline key set as a JSON array, or NULL before the first record.
    baseline TEXT,
    -- Milliseconds since the Unix epoch.
    updated_at BIGINT NOT NULL
);
