//! Export checkpoints: one per export job, holding the job id, report id, next offset and
//! baseline schema, so a reconnect — to a restarted service, or to another replica — resumes
//! with no gap. They live in the state store (`SqlCheckpointStore`), behind
//! [`CheckpointStore`]; a stream writes them through a [`CheckpointWriter`], which never makes
//! it wait for the database.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::store::error::StoreError;
use crate::store::writer::LatestWriter;

/// A job's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The export job.
    pub export_job_id: String,
    /// Its report.
    pub report_id: String,
    /// The first offset not yet delivered (written, or acknowledged with acks).
    pub next_offset: u64,
    /// The baseline key set (the job's first record's keys, or the last accepted drift).
    pub baseline: Option<Vec<String>>,
}

/// Where checkpoints live. The futures are `'static` (they own what they need), so a write
/// can outlive the stream that asked for it.
pub trait CheckpointStore: Send + Sync {
    /// The job's checkpoint, if any.
    ///
    /// Errors: the store cannot be read, or the row cannot be read back.
    fn load(
        &self,
        export_job_id: &str,
    ) -> BoxFuture<'static, Result<Option<Checkpoint>, StoreError>>;
    /// Replaces the job's checkpoint atomically.
    ///
    /// Errors: the store cannot be written.
    fn save(&self, checkpoint: Checkpoint) -> BoxFuture<'static, Result<(), StoreError>>;
}

/// A stream's checkpoint writes, off its thread's critical path (see [`LatestWriter`]).
pub type CheckpointWriter = LatestWriter<Checkpoint>;

/// The writer of a stream's checkpoints to `store`.
pub fn checkpoint_writer(store: Arc<dyn CheckpointStore>) -> CheckpointWriter {
    LatestWriter::new("export checkpoint", Arc::new(move |c| store.save(c)))
}
