//! Orchestration runs in the state store: table `orchestration_runs`, one row per run — the
//! plan as submitted, the owner and its lease, and the report as the run last wrote it.
//!
//! A run is [created](SqlRunReports::create) before its first execution is posted; its owner
//! renews the lease ([`renew`](SqlRunReports::renew)) while it runs; a run whose lease has
//! passed unsettled (its replica stopped) is [claimed](SqlRunReports::claim_expired) by
//! another replica, or by the same one after a restart, and resumed.

use serde_json::Value;
use sqlx::Row as _;

use super::error::StoreError;
use super::{now_millis, placeholders, Store};

/// A run's report as written (the JSON `GET /orchestrations/{id}` answers).
#[derive(Debug, Clone, PartialEq)]
pub struct RunSnapshot {
    /// The run.
    pub run_id: String,
    /// The replica running it.
    pub owner: String,
    /// Whether every execution in flight has been recorded.
    pub settled: bool,
    /// The report.
    pub report: Value,
}

/// Run reports in a [`Store`].
#[derive(Debug, Clone)]
pub struct SqlRunReports {
    store: Store,
}

impl SqlRunReports {
    /// Run reports in `store`.
    pub fn new(store: Store) -> Self {
        SqlRunReports { store }
    }

    /// Records a new run: its plan (JSON), owner, lease end (ms since the epoch) and first
    /// report.
    ///
    /// Errors: [`StoreError::Database`].
    pub async fn create(
        &self,
        snapshot: RunSnapshot,
        plan: &Value,
        lease_until: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO orchestration_runs \
             (run_id, owner, settled, report, updated_at, plan, lease_until) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(snapshot.run_id)
        .bind(snapshot.owner)
        .bind(i64::from(snapshot.settled))
        .bind(snapshot.report.to_string())
        .bind(now_millis())
        .bind(plan.to_string())
        .bind(lease_until)
        .execute(self.store.pool())
        .await
        .map_err(|e| self.store.error(e))?;
        Ok(())
    }

    /// Extends the lease of `owner`'s unsettled runs `run_ids` to `lease_until` (ms since the
    /// epoch): the owner's heartbeat.
    ///
    /// Errors: [`StoreError::Database`].
    pub async fn renew(
        &self,
        owner: &str,
        run_ids: &[String],
        lease_until: i64,
    ) -> Result<(), StoreError> {
        for chunk in run_ids.chunks(500) {
            let list = placeholders(3, chunk.len());
            let sql = format!(
                "UPDATE orchestration_runs SET lease_until = $1 \
                 WHERE owner = $2 AND settled = 0 AND run_id IN ({list})"
            );
            let mut query = sqlx::query(&sql).bind(lease_until).bind(owner.to_string());
            for id in chunk {
                query = query.bind(id.clone());
            }
            query
                .execute(self.store.pool())
                .await
                .map_err(|e| self.store.error(e))?;
        }
        Ok(())
    }

    /// Takes over, for `owner` until `lease_until`, every unsettled run whose lease has
    /// passed (at most `limit`): their run ids, plans and last reports.
    ///
    /// Errors: [`StoreError::Database`], or [`StoreError::Corrupt`] for a plan or report that
    /// is not JSON.
    pub async fn claim_expired(
        &self,
        owner: &str,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<(String, Value, Value)>, StoreError> {
        let now = now_millis();
        let candidates = sqlx::query(
            "SELECT run_id FROM orchestration_runs \
             WHERE settled = 0 AND lease_until < $1 AND plan IS NOT NULL LIMIT $2",
        )
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(self.store.pool())
        .await
        .map_err(|e| self.store.error(e))?;
        let mut claimed = Vec::new();
        for row in candidates {
            let run_id: String = row.try_get(0).map_err(|e| self.store.error(e))?;
            // Conditional on the lease still being passed: of replicas claiming at once, one
            // gets each run.
            let row = sqlx::query(
                "UPDATE orchestration_runs SET owner = $1, lease_until = $2 \
                 WHERE run_id = $3 AND settled = 0 AND lease_until < $4 \
                 RETURNING plan, report",
            )
            .bind(owner.to_string())
            .bind(lease_until)
            .bind(&run_id)
            .bind(now)
            .fetch_optional(self.store.pool())
            .await
            .map_err(|e| self.store.error(e))?;
            let Some(row) = row else {
                continue;
            };
            let plan: String = row.try_get(0).map_err(|e| self.store.error(e))?;
            let report: String = row.try_get(1).map_err(|e| self.store.error(e))?;
            let corrupt = |e: serde_json::Error| StoreError::Corrupt {
                what: "run",
                message: e.to_string(),
            };
            let plan = serde_json::from_str(&plan).map_err(corrupt)?;
            let report = serde_json::from_str(&report).map_err(corrupt)?;
            claimed.push((run_id, plan, report));
        }
        Ok(claimed)
    }

    /// Replaces the run's snapshot, if the run is still `snapshot.owner`'s (a replica that
    /// lost its run to another does not overwrite the new owner's snapshots).
    ///
    /// Errors: [`StoreError::Database`].
    pub async fn save(&self, snapshot: RunSnapshot) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO orchestration_runs (run_id, owner, settled, report, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_id) DO UPDATE SET settled = excluded.settled, \
             report = excluded.report, updated_at = excluded.updated_at \
             WHERE orchestration_runs.owner = excluded.owner",
        )
        .bind(snapshot.run_id)
        .bind(snapshot.owner)
        .bind(i64::from(snapshot.settled))
        .bind(snapshot.report.to_string())
        .bind(now_millis())
        .execute(self.store.pool())
        .await
        .map_err(|e| self.store.error(e))?;
        Ok(())
    }

    /// The run's last snapshot, if any.
    ///
    /// Errors: [`StoreError::Database`], or [`StoreError::Corrupt`] for a report that is not
    /// JSON.
    pub async fn load(&self, run_id: &str) -> Result<Option<RunSnapshot>, StoreError> {
        let row =
            sqlx::query("SELECT owner, settled, report FROM orchestration_runs WHERE run_id = $1")
                .bind(run_id)
                .fetch_optional(self.store.pool())
                .await
                .map_err(|e| self.store.error(e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let owner: String = row.try_get(0).map_err(|e| self.store.error(e))?;
        let settled: i64 = row.try_get(1).map_err(|e| self.store.error(e))?;
        let report: String = row.try_get(2).map_err(|e| self.store.error(e))?;
        let report = serde_json::from_str(&report).map_err(|e| StoreError::Corrupt {
            what: "run report",
            message: e.to_string(),
        })?;
        Ok(Some(RunSnapshot {
            run_id: run_id.to_string(),
            owner,
            settled: settled != 0,
            report,
        }))
    }
}
