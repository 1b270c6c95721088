//! A graceful stop, as load balancers expect it (SIGTERM or SIGINT; the sequence is driven by
//! the service's start-up code):
//!
//! 1. [`Drain::start`]: readiness answers 503 and every HTTP response carries
//!    `Connection: close`, while the service keeps accepting and serving for
//!    `server.shutdown_timeout_secs`, so the balancer takes it out of rotation and clients
//!    open their next request elsewhere;
//! 2. [`Drain::close_streams`]: export streams write their checkpoint and close with 1001
//!    (going away), and the listener stops accepting; requests already received are answered;
//! 3. the router's and the acknowledger's queues get a bounded time to empty, and
//!    [`Drain::settled`] waits for the streams and the checkpoint writes [`Drain::tracker`]
//!    counts, then the audit log is flushed.
//!
//! One `Drain` per service, cloned into what takes part (cheap: one `Arc`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// The drain state of one service (see the module doc).
#[derive(Clone)]
pub struct Drain {
    inner: Arc<Inner>,
}

struct Inner {
    draining: AtomicBool,
    closing: watch::Sender<bool>,
    tracker: TaskTracker,
}

impl Default for Drain {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Drain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Drain")
            .field("draining", &self.is_draining())
            .field("closing", &*self.inner.closing.borrow())
            .field("tracked", &self.inner.tracker.len())
            .finish()
    }
}

impl Drain {
    /// A service that is not draining.
    pub fn new() -> Self {
        Drain {
            inner: Arc::new(Inner {
                draining: AtomicBool::new(false),
                closing: watch::Sender::new(false),
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// Step 1: readiness fails and responses carry `Connection: close` from now on.
    pub fn start(&self) {
        self.inner.draining.store(true, Ordering::Release);
    }

    /// Whether [`Drain::start`] was called.
    pub fn is_draining(&self) -> bool {
        self.inner.draining.load(Ordering::Acquire)
    }

    /// Step 2: export streams close with 1001 after writing their checkpoint (implies
    /// [`Drain::start`]).
    pub fn close_streams(&self) {
        self.start();
        self.inner.closing.send_replace(true);
    }

    /// Resolves once [`Drain::close_streams`] was called (at once if it was).
    pub fn closing(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.inner.closing.subscribe();
        async move {
            // An error means the sender is gone: nothing will ever close, so wait forever
            // (the waiter is dropped with its stream).
            if rx.wait_for(|closing| *closing).await.is_err() {
                futures::future::pending::<()>().await;
            }
        }
    }

    /// What [`Drain::settled`] waits for: each export stream holds a token of it while it
    /// lives, and checkpoint writes run as its tasks.
    pub fn tracker(&self) -> &TaskTracker {
        &self.inner.tracker
    }

    /// Waits at most `within` for every stream and write [`Drain::tracker`] counts to end;
    /// answers how many are left (0: all ended).
    pub async fn settled(&self, within: Duration) -> usize {
        let tracker = &self.inner.tracker;
        tracker.close();
        let _ = tokio::time::timeout(within, tracker.wait()).await;
        tracker.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn streams_learn_of_the_close_and_settled_waits_for_tracked_work() {
        let drain = Drain::new();
        assert!(!drain.is_draining());
        let closing = drain.closing();
        let token = drain.tracker().token();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let write = drain.tracker().track_future(async move {
            let _ = rx.await;
        });
        actix_rt::spawn(write);
        drain.start();
        assert!(drain.is_draining());
        assert_eq!(
            tokio::time::timeout(Duration::from_millis(20), drain.closing())
                .await
                .ok(),
            None,
            "draining alone does not close streams"
        );
        drain.close_streams();
        closing.await;
        assert_eq!(drain.settled(Duration::from_millis(20)).await, 2);
        drop(token);
        let _ = tx.send(());
        assert_eq!(drain.settled(Duration::from_secs(5)).await, 0);
    }
}
