//! Export checkpoints in the state store: table `export_checkpoints`, one row per job.

use futures::future::BoxFuture;
use sqlx::Row as _;

use super::error::StoreError;
use super::{detached, now_millis, Store};
use crate::exports::checkpoint::{Checkpoint, CheckpointStore};

/// [`CheckpointStore`] over a [`Store`]: a save is one upsert, a load one select by job id.
#[derive(Debug, Clone)]
pub struct SqlCheckpointStore {
    store: Store,
}

impl SqlCheckpointStore {
    /// Checkpoints in `store`.
    pub fn new(store: Store) -> Self {
        SqlCheckpointStore { store }
    }
}

impl CheckpointStore for SqlCheckpointStore {
    fn load(
        &self,
        export_job_id: &str,
    ) -> BoxFuture<'static, Result<Option<Checkpoint>, StoreError>> {
        let store = self.store.clone();
        let id = export_job_id.to_string();
        Box::pin(detached(async move {
            let row = sqlx::query(
                "SELECT report_id, next_offset, baseline FROM export_checkpoints \
                 WHERE export_job_id = $1",
            )
            .bind(&id)
            .fetch_optional(store.pool())
            .await
            .map_err(|e| store.error(e))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let report_id: String = row.try_get(0).map_err(|e| store.error(e))?;
            let next_offset: i64 = row.try_get(1).map_err(|e| store.error(e))?;
            let baseline: Option<String> = row.try_get(2).map_err(|e| store.error(e))?;
            let corrupt = |message: String| StoreError::Corrupt {
                what: "export checkpoint",
                message,
            };
            let next_offset = u64::try_from(next_offset)
                .map_err(|_| corrupt(format!("negative next_offset {next_offset}")))?;
            let baseline = baseline
                .map(|b| serde_json::from_str::<Vec<String>>(&b))
                .transpose()
                .map_err(|e| corrupt(format!("baseline: {e}")))?;
            Ok(Some(Checkpoint {
                export_job_id: id,
                report_id,
                next_offset,
                baseline,
            }))
        }))
    }

    fn save(&self, checkpoint: Checkpoint) -> BoxFuture<'static, Result<(), StoreError>> {
        let store = self.store.clone();
        Box::pin(detached(async move {
            let baseline = checkpoint
                .baseline
                .as_ref()
                .map(|b| serde_json::to_string(b).unwrap_or_else(|_| "[]".into()));
            let next_offset = i64::try_from(checkpoint.next_offset).unwrap_or(i64::MAX);
            sqlx::query(
                "INSERT INTO export_checkpoints \
                 (export_job_id, report_id, next_offset, baseline, updated_at) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (export_job_id) DO UPDATE SET report_id = excluded.report_id, \
                 next_offset = excluded.next_offset, baseline = excluded.baseline, \
                 updated_at = excluded.updated_at",
            )
            .bind(checkpoint.export_job_id)
            .bind(checkpoint.report_id)
            .bind(next_offset)
            .bind(baseline)
            .bind(now_millis())
            .execute(store.pool())
            .await
            .map_err(|e| store.error(e))?;
            Ok(())
        }))
    }
}
