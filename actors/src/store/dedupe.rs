//! The shared dedupe window (`routing.dedupe = "shared"`): table `dedupe_keys`, one row per
//! delivery key. A replica *claims* the keys of a router step's events in one round trip
//! (plus one to read the keys it did not get): a key nobody holds, or whose reservation lease
//! or routed window has passed, becomes reserved by it; a key another replica reserved is in
//! flight elsewhere; a routed key within its window is a duplicate. After the produce the
//! replica confirms the routed keys (kept for `routing.dedupe_window_secs`) and releases the
//! failed ones, so at-least-once holds: a key is never remembered as routed before the broker
//! acknowledged it. A replica that dies holding reservations loses them when their lease
//! (`kafka.produce_timeout_ms` twice over) passes.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use sqlx::Row as _;

use super::error::StoreError;
use super::{detached, millis, now_millis, placeholders, Store};
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
}

/// Keys bound per statement at most (PostgreSQL allows 65 535 parameters, SQLite 32 766).
const KEYS_PER_STATEMENT: usize = 500;

fn hex(key: &DedupeKey) -> String {
    let mut s = String::with_capacity(32);
    for b in key.0 {
        let _ = write!(s, "{b:02x}");
    }
    s
}

impl SharedDedupe {
    /// The window in `store` for the replica `owner` (unique per process), remembering
    /// routed keys for `window` and reservations for `lease`.
    pub fn new(store: Store, owner: String, window: Duration, lease: Duration) -> Self {
        SharedDedupe {
            store,
            owner,
            window,
            lease,
        }
    }

    /// This replica's id.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Claims `keys` (duplicates allowed) at once; their claims, by key.
    ///
    /// Errors: [`StoreError`] when the store cannot be reached: nothing is known of any key.
    pub async fn claim(&self, keys: &[DedupeKey]) -> Result<HashMap<DedupeKey, Claim>, StoreError> {
        let (this, keys) = (self.clone(), keys.to_vec());
        detached(async move { this.claim_now(&keys).await }).await
    }

    async fn claim_now(&self, keys: &[DedupeKey]) -> Result<HashMap<DedupeKey, Claim>, StoreError> {
        let mut unique: Vec<DedupeKey> = keys.to_vec();
        unique.sort_unstable_by_key(|k| k.0);
        unique.dedup();
        let mut claims = HashMap::with_capacity(unique.len());
        for chunk in unique.chunks(KEYS_PER_STATEMENT) {
            self.claim_chunk(chunk, &mut claims).await?;
        }
        Ok(claims)
    }

    async fn claim_chunk(
        &self,
        keys: &[DedupeKey],
        claims: &mut HashMap<DedupeKey, Claim>,
    ) -> Result<(), StoreError> {
        let now = now_millis();
        let by_hex: HashMap<String, DedupeKey> = keys.iter().map(|k| (hex(k), *k)).collect();
        // $1 owner, $2 lease end, $3 now, then the keys.
        let rows = (0..keys.len())
            .map(|i| format!("(${}, $1, 'reserved', $2)", i + 4))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO dedupe_keys (dedupe_key, owner, state, expires_at) VALUES {rows} \
             ON CONFLICT (dedupe_key) DO UPDATE SET owner = excluded.owner, \
             state = excluded.state, expires_at = excluded.expires_at \
             WHERE dedupe_keys.expires_at < $3 RETURNING dedupe_key"
        );
        let mut query = sqlx::query(&sql)
            .bind(self.owner.clone())
            .bind(now.saturating_add(millis(self.lease)))
            .bind(now);
        for k in keys {
            query = query.bind(hex(k));
        }
        let reserved = query
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
            return Ok(());
        }
        let sql = format!(
            "SELECT dedupe_key, owner, state FROM dedupe_keys WHERE dedupe_key IN ({})",
            placeholders(1, others.len())
        );
        let mut query = sqlx::query(&sql);
        for k in &others {
            query = query.bind(hex(k));
        }
        let rows = query
            .fetch_all(self.store.pool())
            .await
            .map_err(|e| self.store.error(e))?;
        for row in &rows {
            let key: String = row.try_get(0).map_err(|e| self.store.error(e))?;
            let owner: String = row.try_get(1).map_err(|e| self.store.error(e))?;
            let state: String = row.try_get(2).map_err(|e| self.store.error(e))?;
            let claim = match state.as_str() {
                "routed" => Claim::Routed,
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
        Ok(())
    }

    /// The deliveries of `keys`, reserved by this replica, reached Kafka: remembered as
    /// routed for the window.
    ///
    /// Errors: [`StoreError`]; the keys then stay reserved until their lease passes.
    pub async fn confirm(&self, keys: &[DedupeKey]) -> Result<(), StoreError> {
        let (this, keys) = (self.clone(), keys.to_vec());
        detached(async move { this.confirm_now(&keys).await }).await
    }

    async fn confirm_now(&self, keys: &[DedupeKey]) -> Result<(), StoreError> {
        let until = now_millis().saturating_add(millis(self.window));
        self.for_own_keys(keys, Some(until), |list| {
            format!(
                "UPDATE dedupe_keys SET state = 'routed', expires_at = $2 \
                 WHERE owner = $1 AND dedupe_key IN ({list})"
            )
        })
        .await
    }

    /// The deliveries of `keys`, reserved by this replica, failed (or were refused before
    /// producing): forgotten, so a redelivery to any replica is produced.
    ///
    /// Errors: [`StoreError`]; the keys then stay reserved until their lease passes.
    pub async fn release(&self, keys: &[DedupeKey]) -> Result<(), StoreError> {
        let (this, keys) = (self.clone(), keys.to_vec());
        detached(async move { this.release_now(&keys).await }).await
    }

    async fn release_now(&self, keys: &[DedupeKey]) -> Result<(), StoreError> {
        self.for_own_keys(keys, None, |list| {
            format!(
                "DELETE FROM dedupe_keys WHERE owner = $1 AND state = 'reserved' \
                 AND dedupe_key IN ({list})"
            )
        })
        .await
    }

    /// Runs `sql(list)` per chunk of `keys`, binding this replica's id as `$1`, `time` (when
    /// given) as `$2`, then the chunk's keys in `list`.
    async fn for_own_keys(
        &self,
        keys: &[DedupeKey],
        time: Option<i64>,
        sql: impl Fn(&str) -> String,
    ) -> Result<(), StoreError> {
        let first = if time.is_some() { 3 } else { 2 };
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let sql = sql(&placeholders(first, chunk.len()));
            let mut query = sqlx::query(&sql).bind(self.owner.clone());
            if let Some(time) = time {
                query = query.bind(time);
            }
            for k in chunk {
                query = query.bind(hex(k));
            }
            query
                .execute(self.store.pool())
                .await
                .map_err(|e| self.store.error(e))?;
        }
        Ok(())
    }

    /// Deletes the keys whose lease or window has passed; how many.
    ///
    /// Errors: [`StoreError`].
    pub async fn forget_expired(&self) -> Result<u64, StoreError> {
        let this = self.clone();
        detached(async move { this.forget_expired_now().await }).await
    }

    async fn forget_expired_now(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM dedupe_keys WHERE expires_at < $1")
            .bind(now_millis())
            .execute(self.store.pool())
            .await
            .map_err(|e| self.store.error(e))?;
        Ok(done.rows_affected())
    }
}
