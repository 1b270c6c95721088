-- The shared dedupe window (routing.dedupe = "shared"): one row per delivery key, reserved by
-- the replica producing it, then confirmed (routed) or deleted (the produce failed).
-- Written in the SQL that SQLite and PostgreSQL both accept.
CREATE TABLE IF NOT EXISTS dedupe_keys (
    -- The 16-byte key (DedupeKey), lower-case hex.
    dedupe_key TEXT PRIMARY KEY,
    -- The replica that reserved it (a process id).
    owner TEXT NOT NULL,
    -- 'reserved' while a replica produces it, 'routed' once the broker acknowledged it.
    state TEXT NOT NULL,
    -- Milliseconds since the Unix epoch: a reservation's lease, or the end of a routed key's
    -- window. Past it the key may be reserved again.
    expires_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS dedupe_keys_expires_at ON dedupe_keys (expires_at);
