-- Each sub-flow's state in a run, written by the run's owner before it acts on the
-- transition (before it posts an execution, and before it starts what a sub-flow's end made
-- ready): what a replica resuming the run replays. Newer than the report's copy while the run
-- is unsettled. Written in the SQL that SQLite and PostgreSQL both accept.
CREATE TABLE IF NOT EXISTS run_sub_flows (
    run_id TEXT NOT NULL,
    -- The sub-flow's index in the plan.
    position BIGINT NOT NULL,
    -- Its record, as the report shows it (JSON).
    record TEXT NOT NULL,
    PRIMARY KEY (run_id, position)
);
