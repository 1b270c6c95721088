//! The sandbox as a child process of the bench, and the few calls the bench makes to it.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use serde_json::Value;

use crate::common::process::{free_port, ChildGuard};
use crate::common::procfs::proc_cpu_secs;
use crate::common::{block_on, http, BIN};
use crate::{MAX_ANSWER_BYTES, READY_TIMEOUT, UNLIMITED_RPM};

/// The sandbox child process, killed on drop (also when the bench panics).
pub(crate) struct SandboxProcess {
    pub(crate) child: ChildGuard,
    pub(crate) base_url: String,
}

impl SandboxProcess {
    /// Starts `switchboard sandbox` on a free port and waits until it answers.
    pub(crate) fn start(dir: &Path) -> anyhow::Result<SandboxProcess> {
        let port = free_port()?;
        let child = Command::new(BIN)
            .arg("sandbox")
            .current_dir(dir)
            .env("SWITCHBOARD__SANDBOX__BIND", format!("127.0.0.1:{port}"))
            .env("SWITCHBOARD__SANDBOX__RATE_LIMIT_PER_MINUTE", UNLIMITED_RPM)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(File::create(dir.join("sandbox.stderr"))?)
            .spawn()
            .with_context(|| format!("cannot start {BIN} sandbox"))?;
        let mut sandbox = SandboxProcess {
            child: ChildGuard(child),
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = sandbox.child.try_wait()? {
                let stderr = std::fs::read_to_string(dir.join("sandbox.stderr"))?;
                bail!("the sandbox exited with {status}: {stderr}");
            }
            if let Ok(faults) = block_on(get_json(&sandbox.base_url, "/sandbox/faults")) {
                let limit = faults["rate_limit_per_minute"].to_string();
                ensure!(limit == UNLIMITED_RPM, "sandbox rate limit is {limit}");
                return Ok(sandbox);
            }
            ensure!(Instant::now() < deadline, "the sandbox did not answer");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU seconds (user + system) the sandbox has used so far.
    pub(crate) fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.child.id()).unwrap_or(f64::NAN)
    }
}

/// `GET base + path`, a 200 JSON answer.
pub(crate) async fn get_json(base: &str, path: &str) -> anyhow::Result<Value> {
    let mut resp = http()
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GET {path}: {e}"))?;
    ensure!(
        resp.status().as_u16() == 200,
        "GET {path}: {}",
        resp.status()
    );
    let body = resp.body().limit(MAX_ANSWER_BYTES).await?;
    Ok(serde_json::from_slice(&body)?)
}

/// Batches the sandbox answered 200 since its last reset.
pub(crate) fn delta_batches(base: &str) -> anyhow::Result<u64> {
    let state = block_on(get_json(base, "/sandbox/state"))?;
    state["delta_batches"].as_u64().context("no delta_batches")
}

/// `POST /sandbox/reset`: empties data stores, idempotency keys and counters (tokens stay).
pub(crate) fn reset(base: &str) -> anyhow::Result<()> {
    block_on(async {
        let resp = http()
            .post(format!("{base}/sandbox/reset"))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("reset: {e}"))?;
        ensure!(resp.status().as_u16() == 200, "reset: {}", resp.status());
        Ok(())
    })
}
