//! Orchestration runs in the state store: table `orchestration_runs`, one row per run — the
//! plan as submitted, the owner and its lease, and the report as the run last wrote it — and
//! table `run_sub_flows`, one row per sub-flow whose state changed, written by the owner
//! [before it acts on the change](SqlRunReports::save_transitions).
//!
//! A run is [created](SqlRunReports::create) before its first execution is posted; its owner
//! renews the lease ([`renew`](SqlRunReports::renew)) while it runs; a run whose lease has
//! passed unsettled (its replica stopped) is [claimed](SqlRunReports::claim_expired) by
//! another replica, or by the same one after a restart, and resumed.

use serde_json::Value;
use sqlx::Row as _;

use super::error::StoreError;
use super::{detached, now_millis, placeholders, Store};

/// Sub-flow records written per statement (two bind parameters each).
const RECORDS_PER_STATEMENT: usize = 200;

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
        let (this, plan) = (self.clone(), plan.clone());
        detached(async move { this.create_now(snapshot, &plan, lease_until).await }).await
    }

    async fn create_now(
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
        let (this, owner, run_ids) = (self.clone(), owner.to_string(), run_ids.to_vec());
        detached(async move { this.renew_now(&owner, &run_ids, lease_until).await }).await
    }

    async fn renew_now(
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

    /// Ends `owner`'s leases on its unsettled runs at once (its graceful stop), so that
    /// another replica claims them at its next heartbeat rather than once the lease passes;
    /// how many runs.
    ///
    /// Errors: [`StoreError::Database`]; the leases then pass as usual.
    pub async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        let (this, owner) = (self.clone(), owner.to_string());
        detached(async move {
            let done = sqlx::query(
                "UPDATE orchestration_runs SET lease_until = 0 WHERE owner = $1 AND settled = 0",
            )
            .bind(owner)
            .execute(this.store.pool())
            .await
            .map_err(|e| this.store.error(e))?;
            Ok(done.rows_affected())
        })
        .await
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
        let (this, owner) = (self.clone(), owner.to_string());
        detached(async move { this.claim_expired_now(&owner, lease_until, limit).await }).await
    }

    async fn claim_expired_now(
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
            let mut report = serde_json::from_str(&report).map_err(corrupt)?;
            self.merge_transitions(&run_id, &mut report).await?;
            claimed.push((run_id, plan, report));
        }
        Ok(claimed)
    }

    /// Writes the records of sub-flows whose state changed (`(index in the plan, record)`)
    /// if the run is still `owner`'s; false when another replica has claimed it (the caller
    /// must then stop acting for it). One transaction: every record or none.
    ///
    /// Errors: [`StoreError::Database`]; nothing is written.
    pub async fn save_transitions(
        &self,
        run_id: &str,
        owner: &str,
        records: &[(usize, Value)],
    ) -> Result<bool, StoreError> {
        let (this, run_id, owner) = (self.clone(), run_id.to_string(), owner.to_string());
        let records = records.to_vec();
        detached(async move { this.save_transitions_now(&run_id, &owner, &records).await }).await
    }

    async fn save_transitions_now(
        &self,
        run_id: &str,
        owner: &str,
        records: &[(usize, Value)],
    ) -> Result<bool, StoreError> {
        let db = |e| self.store.error(e);
        let mut tx = self.store.pool().begin().await.map_err(db)?;
        let ours = sqlx::query(
            "UPDATE orchestration_runs SET updated_at = $1 WHERE run_id = $2 AND owner = $3",
        )
        .bind(now_millis())
        .bind(run_id.to_string())
        .bind(owner.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if ours.rows_affected() == 0 {
            return Ok(false);
        }
        for chunk in records.chunks(RECORDS_PER_STATEMENT) {
            let rows: Vec<String> = (0..chunk.len())
                .map(|i| format!("($1, {})", placeholders(2 + 2 * i, 2)))
                .collect();
            let sql = format!(
                "INSERT INTO run_sub_flows (run_id, position, record) VALUES {}                  ON CONFLICT (run_id, position) DO UPDATE SET record = excluded.record",
                rows.join(", ")
            );
            let mut query = sqlx::query(&sql).bind(run_id.to_string());
            for (position, record) in chunk {
                query = query
                    .bind(i64::try_from(*position).unwrap_or(i64::MAX))
                    .bind(record.to_string());
            }
            query.execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    /// Puts the run's written sub-flow records into `report["sub_flows"]`, over the
    /// report's older copies.
    async fn merge_transitions(&self, run_id: &str, report: &mut Value) -> Result<(), StoreError> {
        let rows = sqlx::query("SELECT position, record FROM run_sub_flows WHERE run_id = $1")
            .bind(run_id.to_string())
            .fetch_all(self.store.pool())
            .await
            .map_err(|e| self.store.error(e))?;
        for row in rows {
            let position: i64 = row.try_get(0).map_err(|e| self.store.error(e))?;
            let record: String = row.try_get(1).map_err(|e| self.store.error(e))?;
            let record: Value = serde_json::from_str(&record).map_err(|e| StoreError::Corrupt {
                what: "sub-flow record",
                message: e.to_string(),
            })?;
            let slot = usize::try_from(position)
                .ok()
                .and_then(|p| report.get_mut("sub_flows")?.get_mut(p));
            if let Some(slot) = slot {
                *slot = record;
            }
        }
        Ok(())
    }

    /// Replaces the run's snapshot, if the run is still `snapshot.owner`'s (a replica that
    /// lost its run to another does not overwrite the new owner's snapshots).
    ///
    /// Errors: [`StoreError::Database`].
    pub async fn save(&self, snapshot: RunSnapshot) -> Result<(), StoreError> {
        let this = self.clone();
        detached(async move { this.save_now(snapshot).await }).await
    }

    async fn save_now(&self, snapshot: RunSnapshot) -> Result<(), StoreError> {
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

    /// Deletes the settled runs beyond the `keep` most recently settled (by the time of
    /// their last snapshot, then run id), with their sub-flow records; how many runs.
    /// Unsettled runs are never deleted. Any replica may call it at any time: the deletion
    /// is one transaction, and two replicas deleting at once delete the same runs.
    ///
    /// Errors: [`StoreError::Database`]; nothing is deleted.
    pub async fn forget_settled_beyond(&self, keep: usize) -> Result<u64, StoreError> {
        let this = self.clone();
        detached(async move { this.forget_settled_beyond_now(keep).await }).await
    }

    async fn forget_settled_beyond_now(&self, keep: usize) -> Result<u64, StoreError> {
        let db = |e| self.store.error(e);
        // The newest run to delete: the first one past the `keep` newest.
        let newest_gone = sqlx::query(
            "SELECT updated_at, run_id FROM orchestration_runs WHERE settled = 1 \
             ORDER BY updated_at DESC, run_id DESC LIMIT 1 OFFSET $1",
        )
        .bind(i64::try_from(keep).unwrap_or(i64::MAX))
        .fetch_optional(self.store.pool())
        .await
        .map_err(db)?;
        let Some(row) = newest_gone else {
            return Ok(0);
        };
        let updated_at: i64 = row.try_get(0).map_err(db)?;
        let run_id: String = row.try_get(1).map_err(db)?;
        let gone = "settled = 1 AND (updated_at < $1 OR (updated_at = $1 AND run_id <= $2))";
        let mut tx = self.store.pool().begin().await.map_err(db)?;
        sqlx::query(&format!(
            "DELETE FROM run_sub_flows WHERE run_id IN \
             (SELECT run_id FROM orchestration_runs WHERE {gone})"
        ))
        .bind(updated_at)
        .bind(run_id.clone())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        let done = sqlx::query(&format!("DELETE FROM orchestration_runs WHERE {gone}"))
            .bind(updated_at)
            .bind(run_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected())
    }

    /// The run's last snapshot, if any; while the run is unsettled, with the sub-flow
    /// records written since.
    ///
    /// Errors: [`StoreError::Database`], or [`StoreError::Corrupt`] for a report that is not
    /// JSON.
    pub async fn load(&self, run_id: &str) -> Result<Option<RunSnapshot>, StoreError> {
        let (this, run_id) = (self.clone(), run_id.to_string());
        detached(async move { this.load_now(&run_id).await }).await
    }

    async fn load_now(&self, run_id: &str) -> Result<Option<RunSnapshot>, StoreError> {
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
        let mut report = serde_json::from_str(&report).map_err(|e| StoreError::Corrupt {
            what: "run report",
            message: e.to_string(),
        })?;
        if settled == 0 {
            self.merge_transitions(run_id, &mut report).await?;
        }
        Ok(Some(RunSnapshot {
            run_id: run_id.to_string(),
            owner,
            settled: settled != 0,
            report,
        }))
    }
}
