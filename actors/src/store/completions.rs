//! Execution-completion events in the state store: table `completion_events`, one row per
//! execution, for events that reached a replica on which no sub-flow waited for them (the run
//! is another replica's, or its execution POST has not been answered yet).
//!
//! A replica [records](SqlCompletions::record) such an event before answering the webhook;
//! on PostgreSQL the same call announces it on the channel [`CHANNEL`] (`NOTIFY`), which every
//! replica [listens](SqlCompletions::listen) to, so the owner's sub-flow gets it at once. A
//! sub-flow that starts waiting later (a run resumed after its replica stopped)
//! [takes](SqlCompletions::take) its event from the table. Rows older than the early-event
//! TTL are [forgotten](SqlCompletions::forget_received_before).

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::Row as _;

use super::error::{Backend, StoreError};
use super::{delete_in_batches, detached, now_millis, Store, CLEANUP_BATCH};

/// The PostgreSQL channel completion events are announced on. The payload is a
/// [`StoredCompletion`] as JSON.
pub const CHANNEL: &str = "switchboard_completions";

/// Longest `NOTIFY` payload sent (PostgreSQL refuses 8 000 bytes and more); an event whose
/// JSON is longer is only stored, and found by its sub-flow when it starts waiting or polls.
pub const MAX_NOTIFY_BYTES: usize = 7_900;

/// A completion event as stored and announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCompletion {
    /// The webhook's event id.
    pub event_id: String,
    /// The execution.
    pub execution_id: String,
    /// `succeeded` or `failed`.
    pub status: String,
}

/// Completion events in a [`Store`]. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlCompletions {
    store: Store,
}

impl SqlCompletions {
    /// Completion events in `store`.
    pub fn new(store: Store) -> Self {
        SqlCompletions { store }
    }

    /// Stores `event` unless its execution already has one (the first wins), and on
    /// PostgreSQL announces it on [`CHANNEL`]; true when it was stored now.
    ///
    /// Errors: [`StoreError::Database`]; the event is then neither stored nor announced.
    pub async fn record(&self, event: &StoredCompletion) -> Result<bool, StoreError> {
        let (this, event) = (self.clone(), event.clone());
        detached(async move { this.record_now(&event).await }).await
    }

    async fn record_now(&self, event: &StoredCompletion) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO completion_events (execution_id, event_id, status, received_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (execution_id) DO NOTHING",
        )
        .bind(event.execution_id.clone())
        .bind(event.event_id.clone())
        .bind(event.status.clone())
        .bind(now_millis())
        .execute(self.store.pool())
        .await
        .map_err(|e| self.store.error(e))?;
        let stored = done.rows_affected() > 0;
        if stored && self.store.backend() == Backend::Postgres {
            let payload = serde_json::to_string(event).unwrap_or_default();
            if payload.len() <= MAX_NOTIFY_BYTES {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(self.store.pool())
                    .await
                    .map_err(|e| self.store.error(e))?;
            }
        }
        Ok(stored)
    }

    /// Removes and answers the stored event of `execution_id`, if any.
    ///
    /// Errors: [`StoreError::Database`].
    pub async fn take(&self, execution_id: &str) -> Result<Option<StoredCompletion>, StoreError> {
        let (this, execution_id) = (self.clone(), execution_id.to_string());
        detached(async move { this.take_now(&execution_id).await }).await
    }

    async fn take_now(&self, execution_id: &str) -> Result<Option<StoredCompletion>, StoreError> {
        let row = sqlx::query(
            "DELETE FROM completion_events WHERE execution_id = $1 RETURNING event_id, status",
        )
        .bind(execution_id.to_string())
        .fetch_optional(self.store.pool())
        .await
        .map_err(|e| self.store.error(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(StoredCompletion {
            event_id: row.try_get(0).map_err(|e| self.store.error(e))?,
            execution_id: execution_id.to_string(),
            status: row.try_get(1).map_err(|e| self.store.error(e))?,
        }))
    }

    /// Deletes the events received before `before` (ms since the epoch), [`CLEANUP_BATCH`]
    /// per statement; how many.
    ///
    /// Errors: [`StoreError::Database`]; the batches deleted before it stay deleted.
    pub async fn forget_received_before(&self, before: i64) -> Result<u64, StoreError> {
        let this = self.clone();
        detached(async move { this.forget_received_before_now(before).await }).await
    }

    async fn forget_received_before_now(&self, before: i64) -> Result<u64, StoreError> {
        delete_in_batches(
            &self.store,
            "DELETE FROM completion_events WHERE execution_id IN \
             (SELECT execution_id FROM completion_events WHERE received_at < $1 LIMIT $2)",
            before,
            CLEANUP_BATCH,
        )
        .await
    }

    /// A connection listening on [`CHANNEL`] (PostgreSQL), or `None` on SQLite, where one
    /// process is the only replica and needs no announcements.
    ///
    /// Errors: [`StoreError::Database`] when the connection or `LISTEN` fails.
    pub async fn listen(&self) -> Result<Option<PgListener>, StoreError> {
        if self.store.backend() != Backend::Postgres {
            return Ok(None);
        }
        let mut listener = PgListener::connect(&self.store.url)
            .await
            .map_err(|e| self.store.error(e))?;
        listener
            .listen(CHANNEL)
            .await
            .map_err(|e| self.store.error(e))?;
        Ok(Some(listener))
    }
}
