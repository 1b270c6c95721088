//! Writes to the state store off an actor's critical path: [`LatestWriter::save`] returns at
//! once; one write is in flight at a time, and a value saved while one is in flight replaces
//! any still waiting, so the store receives them in order and only the newest of a burst. The
//! writing task runs on the calling thread's runtime and finishes even when the actor has
//! stopped. A failed write is kept for [`LatestWriter::take_failure`] (and logged).
//!
//! Used for export checkpoints and orchestration run snapshots.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio_util::task::TaskTracker;

use super::error::StoreError;

/// What writes one value to the store.
pub type Write<T> = Arc<dyn Fn(T) -> BoxFuture<'static, Result<(), StoreError>> + Send + Sync>;

/// The newest value of one thing (a job's checkpoint, a run's snapshot), written in order
/// without making its actor wait. `!Send`: one per actor, on its thread.
pub struct LatestWriter<T> {
    write: Write<T>,
    what: &'static str,
    state: Rc<RefCell<State<T>>>,
    tracker: Option<TaskTracker>,
}

struct State<T> {
    writing: bool,
    waiting: Option<T>,
    failure: Option<StoreError>,
}

impl<T: 'static> LatestWriter<T> {
    /// A writer calling `write`; `what` names the value in log lines.
    pub fn new(what: &'static str, write: Write<T>) -> Self {
        LatestWriter {
            write,
            what,
            state: Rc::new(RefCell::new(State {
                writing: false,
                waiting: None,
                failure: None,
            })),
            tracker: None,
        }
    }

    /// Runs the writes as tasks of `tracker`, so a graceful stop can wait for the last one
    /// ([`Drain::settled`](crate::drain::Drain::settled)).
    pub fn tracked_by(mut self, tracker: TaskTracker) -> Self {
        self.tracker = Some(tracker);
        self
    }

    /// Writes `value` after the write in flight, if any (replacing one still waiting). Must
    /// be called inside an actix (or tokio `LocalSet`) runtime.
    pub fn save(&self, value: T) {
        let start = {
            let mut state = self.state.borrow_mut();
            state.waiting = Some(value);
            !std::mem::replace(&mut state.writing, true)
        };
        if start {
            let (write, state, what) = (self.write.clone(), self.state.clone(), self.what);
            let writes = async move {
                loop {
                    let next = state.borrow_mut().waiting.take();
                    let Some(value) = next else {
                        state.borrow_mut().writing = false;
                        return;
                    };
                    if let Err(e) = write(value).await {
                        log::error!("component=state event=write_failed what={what} error={e}");
                        state.borrow_mut().failure = Some(e);
                    }
                }
            };
            match &self.tracker {
                Some(tracker) => actix_rt::spawn(tracker.track_future(writes)),
                None => actix_rt::spawn(writes),
            };
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    #[actix_rt::test]
    async fn writes_never_wait_and_reach_the_store_in_order_keeping_only_the_newest_waiting() {
        let saved = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(tokio::sync::Notify::new());
        let (s, g) = (saved.clone(), gate.clone());
        let write: Write<u64> = Arc::new(move |v| {
            let (s, g) = (s.clone(), g.clone());
            Box::pin(async move {
                g.notified().await;
                s.lock().expect("lock").push(v);
                Ok(())
            })
        });
        let writer = LatestWriter::new("test value", write);
        writer.save(1); // in flight, held at the gate
        actix_rt::task::yield_now().await;
        writer.save(2); // waiting
        writer.save(3); // replaces 2
        assert!(writer.busy(), "returned at once while the store is held");
        while writer.busy() {
            gate.notify_one();
            actix_rt::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(*saved.lock().expect("lock"), vec![1, 3]);
        assert!(writer.take_failure().is_none());
    }

    #[actix_rt::test]
    async fn a_failed_write_is_kept_once() {
        let write: Write<u64> = Arc::new(|_| {
            Box::pin(async {
                Err(StoreError::Corrupt {
                    what: "test value",
                    message: "refused".into(),
                })
            })
        });
        let writer = LatestWriter::new("test value", write);
        writer.save(1);
        while writer.busy() {
            actix_rt::task::yield_now().await;
        }
        assert!(matches!(
            writer.take_failure(),
            Some(StoreError::Corrupt { .. })
        ));
        assert!(writer.take_failure().is_none());
    }
}
