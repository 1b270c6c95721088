//! The shared dedupe window (`routing.dedupe = "shared"`): table `dedupe_keys`, one row per
//! delivery key. A replica *claims* the keys of a router step's events in one round trip
//! (plus one to read the keys it did not get): a key nobody holds, or whose reservation lease
//! or routed window has passed, becomes reserved by it; a key another replica reserved is in
//! flight elsewhere; a routed key within its window is a duplicate. After the produce the
//! replica confirms the routed keys (kept for `routing.dedupe_window_secs`) and releases the
//! failed ones, so at-least-once holds: a key is never remembered as routed before the broker
//! acknowledged it. A replica that dies holding reservations loses them when their lease
//! (`kafka.produce_timeout_ms` twice over) passes.
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
}

/// Keys per statement at most (its one parameter stays below ~165 KB).
const KEYS_PER_STATEMENT: usize = 5_000;

/// The window's statements on one backend; `keys` is always the last parameter.
#[derive(Debug)]
struct Statements {
    /// `$1` owner, `$2` lease end, `$3` now, `$4` keys: `RETURNING` the keys reserved now.
    reserve: String,
    /// `$1` keys: each key's owner and state.
    read: String,
    /// `$1` owner, `$2` window end, `$3` keys.
    confirm: String,
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
            // `WHERE true` tells SQLite's parser that ON CONFLICT belongs to the INSERT.
            reserve: format!(
                "INSERT INTO dedupe_keys (dedupe_key, owner, state, expires_at)                  SELECT k.value, $1, 'reserved', $2 FROM ({}) AS k WHERE true                  ON CONFLICT (dedupe_key) DO UPDATE SET owner = excluded.owner,                  state = excluded.state, expires_at = excluded.expires_at                  WHERE dedupe_keys.expires_at < $3 RETURNING dedupe_key",
                keys(4)
            ),
            read: format!(
                "SELECT dedupe_key, owner, state FROM dedupe_keys WHERE dedupe_key IN ({})",
                keys(1)
            ),
            confirm: format!(
                "UPDATE dedupe_keys SET state = 'routed', expires_at = $2                  WHERE owner = $1 AND dedupe_key IN ({})",
                keys(3)
            ),
            release: format!(
                "DELETE FROM dedupe_keys WHERE owner = $1 AND state = 'reserved'                  AND dedupe_key IN ({})",
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
    /// routed keys for `window` and reservations for `lease`.
    pub fn new(store: Store, owner: String, window: Duration, lease: Duration) -> Self {
        let statements = std::sync::Arc::new(Statements::new(store.backend()));
        SharedDedupe {
            store,
            owner,
            window,
            lease,
            statements,
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
            claims.extend(once_more_if_lost(|| self.claim_chunk(chunk)).await?);
        }
        Ok(claims)
    }

    /// The claims of `keys`. May be repeated: keys this replica reserved in an attempt whose
    /// answer was lost read back as its own.
    async fn claim_chunk(
        &self,
        keys: &[DedupeKey],
    ) -> Result<HashMap<DedupeKey, Claim>, StoreError> {
        let mut claims = HashMap::with_capacity(keys.len());
        let now = now_millis();
        let by_hex: HashMap<String, DedupeKey> = keys.iter().map(|k| (hex(k), *k)).collect();
        let reserved = sqlx::query(&self.statements.reserve)
            .bind(self.owner.clone())
            .bind(now.saturating_add(millis(self.lease)))
            .bind(now)
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
        Ok(claims)
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
        self.for_own_keys(keys, Some(until), &self.statements.confirm)
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
        self.for_own_keys(keys, None, &self.statements.release)
            .await
    }

    /// Runs `sql` per chunk of `keys`, binding this replica's id as `$1`, `time` (when
    /// given) as `$2`, then the chunk's keys.
    async fn for_own_keys(
        &self,
        keys: &[DedupeKey],
        time: Option<i64>,
        sql: &str,
    ) -> Result<(), StoreError> {
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let keys = self.statements.keys(chunk);
            once_more_if_lost(|| async {
                let mut query = sqlx::query(sql).bind(self.owner.as_str());
                if let Some(time) = time {
                    query = query.bind(time);
                }
                query
                    .bind(keys.as_str())
                    .execute(self.store.pool())
                    .await
                    .map_err(|e| self.store.error(e))
            })
            .await?;
        }
        Ok(())
    }

    /// Deletes the keys whose lease or window has passed, [`CLEANUP_BATCH`] per statement;
    /// how many.
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
            delete_in_batches(
                &this.store,
                "DELETE FROM dedupe_keys WHERE dedupe_key IN \
                 (SELECT dedupe_key FROM dedupe_keys WHERE expires_at < $1 LIMIT $2)",
                now_millis(),
                batch,
            )
            .await
        })
        .await
    }
}
