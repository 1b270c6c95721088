//! Helpers the benches share: child processes killed on drop, free ports, a temp dir removed
//! on drop, an awc client on a fresh actix system, work on a thread and actix system of its own, `/proc` readings, nearest-rank percentiles,
//! a sandbox bearer token, and the in-process service's settings and start (routes file, audit log, sandbox URL).
//!
//! Each bench includes this module with `#[path = "../common/mod.rs"] mod common;`; not every
//! bench uses every helper.

pub mod process;
pub mod procfs;
pub mod sandbox;
pub mod service;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

/// The `switchboard` binary cargo built for the bench.
pub const BIN: &str = env!("CARGO_BIN_EXE_switchboard");

/// Timeout of one request of [`http`]'s client.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// The temp dir of one run, removed on drop.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `fut` on a fresh actix system (awc needs one).
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    actix_rt::System::new().block_on(fut)
}

/// Runs `work` on a thread named `name` with an actix system of its own (so the bench's
/// client does not share a thread with what it measures), and joins it once it has answered.
///
/// Errors: `work`'s own, or the thread cannot be spawned or dies before answering.
pub async fn on_thread<T, F, Fut>(name: &str, work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (tx, rx) = futures::channel::oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(actix_rt::System::new().block_on(work()));
        })
        .with_context(|| format!("spawning the {name} thread"))?;
    let result = rx
        .await
        .with_context(|| format!("the {name} thread died"))?;
    // It has sent its answer: joining takes no time.
    let _ = thread.join();
    result
}

/// An awc client whose requests time out after [`HTTP_TIMEOUT`].
pub fn http() -> awc::Client {
    awc::Client::builder().timeout(HTTP_TIMEOUT).finish()
}
