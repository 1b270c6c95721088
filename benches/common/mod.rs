//! Helpers the benches share: child processes killed on drop, free ports, a temp dir removed
//! on drop, an awc client on a fresh actix system, `/proc` readings, nearest-rank percentiles,
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

/// An awc client whose requests time out after [`HTTP_TIMEOUT`].
pub fn http() -> awc::Client {
    awc::Client::builder().timeout(HTTP_TIMEOUT).finish()
}
