-- Orchestration runs' reports, as the run last wrote them (at its start and after each
-- sub-flow's end), so any replica answers GET /orchestrations/{id}, and a settled run's report
-- outlives a restart. Written in the SQL that SQLite and PostgreSQL both accept.
CREATE TABLE IF NOT EXISTS orchestration_runs (
    run_id TEXT PRIMARY KEY,
    -- The replica running it (a process id).
    owner TEXT NOT NULL,
    -- 1 once every execution in flight has been recorded.
    settled INTEGER NOT NULL,
    -- The report, as GET /orchestrations/{id} answers it (JSON).
    report TEXT NOT NULL,
    -- Milliseconds since the Unix epoch.
    updated_at BIGINT NOT NULL
);
