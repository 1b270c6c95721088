-- Execution-completion events received by a replica on which no sub-flow waited for them
-- (the run is another replica's, or its POST has not been answered yet): kept until the
-- owner's sub-flow takes them, or for the early-event TTL. One per execution: the first wins.
-- Written in the SQL that SQLite and PostgreSQL both accept.
CREATE TABLE IF NOT EXISTS completion_events (
    execution_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    -- 'succeeded' or 'failed'.
    status TEXT NOT NULL,
    -- Milliseconds since the Unix epoch.
    received_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS completion_events_received_at ON completion_events (received_at);
