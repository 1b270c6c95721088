//! Export checkpoints: one per export job, holding the job id, report id, next offset and
//! baseline schema, so a reconnect — to a restarted service, or to another replica — resumes
//! with no gap. They live in the state store (`SqlCheckpointStore`), behind
//! [`CheckpointStore`]; a stream writes them through a [`CheckpointWriter`], which never makes
//! it wait for the database.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::store::error::StoreError;

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

/// A stream's checkpoint writes, off its thread's critical path: [`save`](Self::save) returns
/// at once; one write is in flight at a time, and a checkpoint asked for while one is in
/// flight replaces any still waiting, so the store receives them in order and only the
/// newest of a burst. The writing task runs on the calling thread's runtime and finishes even
/// when the stream has stopped. A failed write is kept for [`take_failure`](Self::take_failure).
///
/// `!Send`: one per stream actor, on its thread.
pub struct CheckpointWriter {
    store: Arc<dyn CheckpointStore>,
    state: Rc<RefCell<WriterState>>,
}

#[derive(Default)]
struct WriterState {
    writing: bool,
    waiting: Option<Checkpoint>,
    failure: Option<StoreError>,
}

impl CheckpointWriter {
    /// A writer to `store`.
    pub fn new(store: Arc<dyn CheckpointStore>) -> Self {
        CheckpointWriter {
            store,
            state: Rc::default(),
        }
    }

    /// Writes `checkpoint` after the write in flight, if any (replacing one still waiting).
    /// Must be called inside an actix (or tokio `LocalSet`) runtime.
    pub fn save(&self, checkpoint: Checkpoint) {
        let start = {
            let mut state = self.state.borrow_mut();
            state.waiting = Some(checkpoint);
            !std::mem::replace(&mut state.writing, true)
        };
        if start {
            let (store, state) = (self.store.clone(), self.state.clone());
            actix_rt::spawn(async move {
                loop {
                    let next = state.borrow_mut().waiting.take();
                    let Some(checkpoint) = next else {
                        state.borrow_mut().writing = false;
                        return;
                    };
                    let job = checkpoint.export_job_id.clone();
                    if let Err(e) = store.save(checkpoint).await {
                        log::error!(
                            "actor=ExportStreamActor event=checkpoint_failed export_job_id={} error={e}",
                            crate::text::for_log(&job)
                        );
                        state.borrow_mut().failure = Some(e);
                    }
                }
            });
        }
    }

    /// Whether a write is in flight or waiting.
    pub fn busy(&self) -> bool {
        self.state.borrow().writing
    }

    /// The last failed write's error, once.
    pub fn take_failure(&self) -> Option<StoreError> {
        self.state.borrow_mut().failure.take()
    }
}

/// Checkpoints in memory, for tests and benches: what a store holds, without a database.
#[derive(Default)]
pub struct MemoryCheckpointStore {
    rows: std::sync::Mutex<std::collections::HashMap<String, Checkpoint>>,
}

impl CheckpointStore for MemoryCheckpointStore {
    fn load(
        &self,
        export_job_id: &str,
    ) -> BoxFuture<'static, Result<Option<Checkpoint>, StoreError>> {
        let found = self
            .rows
            .lock()
            .map(|rows| rows.get(export_job_id).cloned())
            .unwrap_or_default();
        Box::pin(async move { Ok(found) })
    }

    fn save(&self, checkpoint: Checkpoint) -> BoxFuture<'static, Result<(), StoreError>> {
        if let Ok(mut rows) = self.rows.lock() {
            rows.insert(checkpoint.export_job_id.clone(), checkpoint);
        }
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    /// A store whose writes wait until released, recording what reaches it.
    #[derive(Default)]
    struct Gate {
        saved: Mutex<Vec<u64>>,
        open: tokio::sync::Notify,
    }

    struct GatedStore(Arc<Gate>);

    impl CheckpointStore for GatedStore {
        fn load(&self, _: &str) -> BoxFuture<'static, Result<Option<Checkpoint>, StoreError>> {
            Box::pin(async { Ok(None) })
        }
        fn save(&self, c: Checkpoint) -> BoxFuture<'static, Result<(), StoreError>> {
            let gate = self.0.clone();
            Box::pin(async move {
                gate.open.notified().await;
                gate.saved.lock().expect("lock").push(c.next_offset);
                Ok(())
            })
        }
    }

    fn at(offset: u64) -> Checkpoint {
        Checkpoint {
            export_job_id: "job".into(),
            report_id: "r".into(),
            next_offset: offset,
            baseline: None,
        }
    }

    #[actix_rt::test]
    async fn writes_never_wait_and_reach_the_store_in_order_keeping_only_the_newest_waiting() {
        let gate = Arc::new(Gate::default());
        let writer = CheckpointWriter::new(Arc::new(GatedStore(gate.clone())));
        writer.save(at(1)); // in flight, held at the gate
        actix_rt::task::yield_now().await;
        writer.save(at(2)); // waiting
        writer.save(at(3)); // replaces 2
        assert!(writer.busy(), "returned at once while the store is held");
        while writer.busy() {
            gate.open.notify_one();
            actix_rt::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(*gate.saved.lock().expect("lock"), vec![1, 3]);
        assert!(writer.take_failure().is_none());
    }
}
