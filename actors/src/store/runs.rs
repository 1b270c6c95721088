//! Orchestration runs' reports in the state store: table `orchestration_runs`, one row per
//! run, replaced by each snapshot the run writes.

use serde_json::Value;
use sqlx::Row as _;

use super::error::StoreError;
use super::{now_millis, Store};

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

    /// Replaces the run's snapshot.
    ///
    /// Errors: [`StoreError::Database`].
    pub async fn save(&self, snapshot: RunSnapshot) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO orchestration_runs (run_id, owner, settled, report, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, \
             settled = excluded.settled, report = excluded.report, \
             updated_at = excluded.updated_at",
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
