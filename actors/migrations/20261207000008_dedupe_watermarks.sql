-- The shared dedupe window without a write per key after the produce: each replica numbers
-- its claims (1, 2, ...) and writes a key with the number of the claim that reserved it
-- (state 'claimed'); a key counts as routed once its owner's routed_through reaches that
-- number, which the owner moves forward only when every key of every claim up to it has
-- ended (produced, or deleted). One small write per owner replaces an update per key.
-- Rows written before this migration keep their meaning: 'routed' until expires_at,
-- 'reserved' until its lease (expires_at) passes.
-- Written in the SQL that SQLite and PostgreSQL both accept.
ALTER TABLE dedupe_keys ADD COLUMN claim_seq BIGINT NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS dedupe_owners (
    -- The replica (a process id), as in dedupe_keys.owner.
    owner TEXT PRIMARY KEY,
    -- Every key this replica reserved in claims 1..routed_through was routed (or deleted).
    routed_through BIGINT NOT NULL,
    -- Milliseconds since the Unix epoch: past it the replica is taken for gone, and its keys
    -- beyond routed_through may be reserved by another replica.
    lease_until BIGINT NOT NULL
);
