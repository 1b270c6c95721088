//! The shared dedupe window (`routing.dedupe = "shared"`): table `dedupe_keys`, one row per
//! delivery key, and table `dedupe_owners`, one row per replica. A replica *claims* the keys
//! of a router step's events in one round trip (plus one to read the keys it did not get),
//! numbering its claims 1, 2, ...: a key nobody holds, whose window has passed, or whose
//! owner's lease passed before the key was routed, becomes reserved by it with the claim's
//! number; a key another replica holds unrouted is in flight elsewhere; a routed key within
//! its window is a duplicate.
//!
//! A key counts as routed once its owner's *watermark* (`routed_through`) reaches the number
//! of the claim that reserved it. The replica moves its watermark forward only past claims
//! whose every key has ended: produced (the broker acknowledged it), or deleted (its produce
//! failed, or it was refused before producing: [`SharedDedupe::release`]). So at-least-once
//! holds: a key is never taken for routed before the broker acknowledged it. One write per
//! replica ([`SharedDedupe::advance`], which renews its lease too) replaces an update per
//! key: measured with `cargo bench --bench ingest`, target `shared` on PostgreSQL, its CPU per
//! event fell from ~33 to ~18 µs at 64 in flight and from ~24 to 11–14 µs at 256, and shared
//! dedupe went from 0.47–0.50 to 0.58 of memory dedupe's events/s at 64 in flight. A replica that dies leaves its unrouted keys to be reserved by another
//! once its lease (`kafka.produce_timeout_ms` twice over, renewed every third of it) passes.
//!
//! Rows written before the watermark (state `routed` or `reserved`) keep their meaning until
//! their `expires_at` passes.
//!
//! The window runs on a pool of its own ([`Store::lean`]): no round trip checks a connection
//! before each statement; a statement that meets a connection the server ended runs once
//! more on a new one (every statement here may be repeated).
//!
//! Every statement binds its keys as one parameter, read back by a subquery (PostgreSQL:
//! `string_to_array` of comma-joined keys; SQLite: `json_each` of a JSON array), so each
//! statement has one text whatever the number of keys: prepared, and planned, once per
//! connection rather than once per batch size.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use sqlx::Row as _;

use super::error::{Backend, StoreError};
use super::{
    delete_in_batches, detached, millis, now_millis, once_more_if_lost, Store, CLEANUP_BATCH,
};
use crate::router::dedupe::DedupeKey;

/// What a claim found for a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This replica holds the key (reserved now, or by a delivery of its own still in
    /// flight): its router decides.
    Ours,
    /// The event was routed within the window (by any replica): a duplicate.
    Routed,
    /// Another replica is producing it right now.
    InFlightElsewhere,
}

/// The shared dedupe window of one replica (see the module doc).
#[derive(Debug, Clone)]
pub struct SharedDedupe {
    store: Store,
    owner: String,
    window: Duration,
    lease: Duration,
    statements: std::sync::Arc<Statements>,
    /// Set once this replica's `dedupe_owners` row is written (watermark 0, by the first
    /// claim): no key is reserved before it.
    registered: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

/// Keys per statement at most (its one parameter stays below ~165 KB).
const KEYS_PER_STATEMENT: usize = 5_000;

/// The window's statements on one backend; `keys` is always the last parameter.
#[derive(Debug)]
struct Statements {
    /// `$1` owner, `$2` window end, `$3` now, `$4` claim number, `$5` keys: `RETURNING` the
    /// keys reserved now.
    reserve: String,
    /// `$1` keys: each key's owner, and whether it is routed (1) or not (0).
    read: String,
    /// `$1` owner, `$2` watermark, `$3` lease end.
    advance: String,
    /// `$1` owner, `$2` keys.
    release: String,
    backend: Backend,
}

impl Statements {
    fn new(backend: Backend) -> Self {
        let keys = |param: usize| match backend {
            Backend::Postgres => format!("SELECT unnest(string_to_array(${param}, ',')) AS value"),
            Backend::Sqlite => format!("SELECT value FROM json_each(${param})"),
        };
        Statements {
            // A key may be taken when nobody holds it: a row written before the watermark
            // once its expires_at passed; a claimed row unless its owner routed it within
            // the window or, still renewing its lease, is producing it. `WHERE true` tells
            // SQLite's parser that ON CONFLICT belongs to the INSERT.
            reserve: format!(
                "INSERT INTO dedupe_keys (dedupe_key, owner, state, expires_at, claim_seq) \
                 SELECT k.value, $1, 'claimed', $2, $4 FROM ({}) AS k WHERE true \
                 ON CONFLICT (dedupe_key) DO UPDATE SET owner = excluded.owner, \
                 state = excluded.state, expires_at = excluded.expires_at, \
                 claim_seq = excluded.claim_seq \
                 WHERE (dedupe_keys.state <> 'claimed' AND dedupe_keys.expires_at < $3) \
                 OR (dedupe_keys.state = 'claimed' AND NOT EXISTS (SELECT 1 \
                 FROM dedupe_owners o WHERE o.owner = dedupe_keys.owner AND \
                 ((o.routed_through >= dedupe_keys.claim_seq AND dedupe_keys.expires_at >= $3) \
                 OR (o.routed_through < dedupe_keys.claim_seq AND o.lease_until >= $3)))) \
                 RETURNING dedupe_key",
                keys(5)
            ),
            read: format!(
                "SELECT d.dedupe_key, d.owner, CAST(CASE WHEN d.state = 'routed' \
                 OR (d.state = 'claimed' AND d.claim_seq <= o.routed_through) \
                 THEN 1 ELSE 0 END AS BIGINT) \
                 FROM dedupe_keys d LEFT JOIN dedupe_owners o ON o.owner = d.owner \
                 WHERE d.dedupe_key IN ({})",
                keys(1)
            ),
            // Written if missing: a replica's row deleted while it could not reach the store
            // for longer than a window comes back.
            advance: "INSERT INTO dedupe_owners (owner, routed_through, lease_until) \
                      VALUES ($1, $2, $3) ON CONFLICT (owner) DO UPDATE \
                      SET routed_through = excluded.routed_through, \
                      lease_until = excluded.lease_until"
                .into(),
            // Never a routed key: a failed delivery of a key another delivery routed leaves
            // it routed.
            release: format!(
                "DELETE FROM dedupe_keys WHERE owner = $1 AND (state = 'reserved' \
                 OR (state = 'claimed' AND claim_seq > COALESCE((SELECT o.routed_through \
                 FROM dedupe_owners o WHERE o.owner = $1), 0))) \
                 AND dedupe_key IN ({})",
                keys(2)
            ),
            backend,
        }
    }

    /// `keys` as the one parameter the statements read them from.
    fn keys<'k>(&self, keys: impl IntoIterator<Item = &'k DedupeKey>) -> String {
        let mut out = String::new();
        let json = self.backend == Backend::Sqlite;
        for (i, k) in keys.into_iter().enumerate() {
            out.push_str(match (json, i) {
                (true, 0) => "[\"",
                (true, _) => "\",\"",
                (false, 0) => "",
                (false, _) => ",",
            });
            out.push_str(&hex(k));
        }
        if json {
            out.push_str(if out.is_empty() { "[]" } else { "\"]" });
        }
        out
    }
}

fn hex(key: &DedupeKey) -> String {
    let mut s = String::with_capacity(32);
    for b in key.0 {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl SharedDedupe {
    /// The window in `store` for the replica `owner` (unique per process), remembering
    /// routed keys for `window`; the replica is taken for gone once `lease` passes without
    /// an [`advance`](Self::advance).
    pub fn new(store: Store, owner: String, window: Duration, lease: Duration) -> Self {
        let statements = std::sync::Arc::new(Statements::new(store.backend()));
        SharedDedupe {
            store,
            owner,
            window,
            lease,
            statements,
            registered: std::sync::Arc::default(),
        }
    }

    /// This replica's id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// How long this replica's lease lasts past each [`advance`](Self::advance).
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Claims `keys` (duplicates allowed) at once as claim number `claim` (this replica's
    /// claims are numbered from 1 up; see the module doc); their claims, by key. A key
    /// reserved now counts as routed once [`advance`](Self::advance) reaches `claim`.
    ///
    /// Errors: [`StoreError`] when the store cannot be reached: nothing is known of any key,
    /// and some may have been reserved (release them before advancing past `claim`).
    pub async fn claim(
        &self,
        keys: &[DedupeKey],
        claim: i64,
    ) -> Result<HashMap<DedupeKey, Claim>, StoreError> {
        let (this, keys) = (self.clone(), keys.to_vec());
        detached(async move { this.claim_now(&keys, claim).await }).await
    }

    async fn claim_now(
        &self,
        keys: &[DedupeKey],
        claim: i64,
    ) -> Result<HashMap<DedupeKey, Claim>, StoreError> {
        // Written before any key of it, so no key is taken for a gone replica's.
        self.registered
            .get_or_try_init(|| self.advance_now(0))
            .await?;
        let mut unique: Vec<DedupeKey> = keys.to_vec();
        unique.sort_unstable_by_key(|k| k.0);
        unique.dedup();
        let mut claims = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(KEYS_PER_STATEMENT) {
            claims.extend(once_more_if_lost(|| self.claim_chunk(chunk, claim)).await?);
        }
        Ok(claims)
    }

    /// The claims of `keys`. May be repeated: keys this replica reserved in an attempt whose
    /// answer was lost read back as its own.
    async fn claim_chunk(
        &self,
        keys: &[DedupeKey],
        claim: i64,
    ) -> Result<HashMap<DedupeKey, Claim>, StoreError> {
        let mut claims = HashMap::with_capacity(keys.len());
        let now = now_millis();
        let by_hex: HashMap<String, DedupeKey> = keys.iter().map(|k| (hex(k), *k)).collect();
        let reserved = sqlx::query(&self.statements.reserve)
            .bind(self.owner.as_str())
            .bind(now.saturating_add(millis(self.window)))
            .bind(now)
            .bind(claim)
            .bind(self.statements.keys(keys))
            .fetch_all(self.store.pool())
            .await
            .map_err(|e| self.store.error(e))?;
        for row in &reserved {
            let key: String = row.try_get(0).map_err(|e| self.store.error(e))?;
            if let Some(k) = by_hex.get(&key) {
                claims.insert(*k, Claim::Ours);
            }
        }
        let others: Vec<&DedupeKey> = keys.iter().filter(|k| !claims.contains_key(k)).collect();
        if others.is_empty() {
            return Ok(claims);
        }
        let rows = sqlx::query(&self.statements.read)
            .bind(self.statements.keys(others.iter().copied()))
            .fetch_all(self.store.pool())
            .await
            .map_err(|e| self.store.error(e))?;
        for row in &rows {
            let key: String = row.try_get(0).map_err(|e| self.store.error(e))?;
            let owner: String = row.try_get(1).map_err(|e| self.store.error(e))?;
            let routed: i64 = row.try_get(2).map_err(|e| self.store.error(e))?;
            let claim = match routed {
                1 => Claim::Routed,
                _ if owner == self.owner => Claim::Ours,
                _ => Claim::InFlightElsewhere,
            };
            if let Some(k) = by_hex.get(&key) {
                claims.insert(*k, claim);
            }
        }
        // A key deleted between the two statements (its produce failed elsewhere): claim it
        // again next time; for now another replica had it.
        for k in others {
            claims.entry(*k).or_insert(Claim::InFlightElsewhere);
        }
        Ok(claims)
    }

    /// Every key this replica reserved in claims `1..=routed_through` has ended (its
    /// delivery reached Kafka, or it was [released](Self::release)): they count as routed
    /// for their window from now on, in every replica. Renews this replica's lease too.
    ///
    /// Errors: [`StoreError`]; the watermark and lease stay where they were.
    pub async fn advance(&self, routed_through: i64) -> Result<(), StoreError> {
        let this = self.clone();
        detached(async move { this.advance_now(routed_through).await }).await
    }

    async fn advance_now(&self, routed_through: i64) -> Result<(), StoreError> {
        once_more_if_lost(|| async {
            sqlx::query(&self.statements.advance)
                .bind(self.owner.as_str())
                .bind(routed_through)
                .bind(now_millis().saturating_add(millis(self.lease)))
                .execute(self.store.pool())
                .await
                .map_err(|e| self.store.error(e))
        })
        .await?;
        Ok(())
    }

    /// The deliveries of `keys`, reserved by this replica and not yet routed, failed (or
    /// were refused before producing): forgotten, so a redelivery to any replica is produced.
    /// A key counted as routed stays.
    ///
    /// Errors: [`StoreError`]; the keys then stay reserved (do not advance past their claims).
    pub async fn release(&self, keys: &[DedupeKey]) -> Result<(), StoreError> {
        let (this, keys) = (self.clone(), keys.to_vec());
        detached(async move { this.release_now(&keys).await }).await
    }

    async fn release_now(&self, keys: &[DedupeKey]) -> Result<(), StoreError> {
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let keys = self.statements.keys(chunk);
            once_more_if_lost(|| async {
                sqlx::query(&self.statements.release)
                    .bind(self.owner.as_str())
                    .bind(keys.as_str())
                    .execute(self.store.pool())
                    .await
                    .map_err(|e| self.store.error(e))
            })
            .await?;
        }
        Ok(())
    }

    /// Deletes the keys whose window (or, for keys written before the watermark, lease) has
    /// passed, [`CLEANUP_BATCH`] per statement, and the rows of replicas gone for longer than
    /// a window (none of their keys is left by then); how many keys.
    ///
    /// Errors: [`StoreError`]; the batches deleted before it stay deleted.
    pub async fn forget_expired(&self) -> Result<u64, StoreError> {
        self.forget_expired_in_batches_of(CLEANUP_BATCH).await
    }

    /// [`SharedDedupe::forget_expired`], `batch` keys per statement.
    ///
    /// Errors: [`StoreError`].
    pub async fn forget_expired_in_batches_of(&self, batch: i64) -> Result<u64, StoreError> {
        let this = self.clone();
        detached(async move {
            let now = now_millis();
            let keys = delete_in_batches(
                &this.store,
                "DELETE FROM dedupe_keys WHERE dedupe_key IN \
                 (SELECT dedupe_key FROM dedupe_keys WHERE expires_at < $1 LIMIT $2)",
                now,
                batch,
            )
            .await?;
            sqlx::query("DELETE FROM dedupe_owners WHERE lease_until < $1")
                .bind(now.saturating_sub(millis(this.window)))
                .execute(this.store.pool())
                .await
                .map_err(|e| this.store.error(e))?;
            Ok(keys)
        })
        .await
    }
}
