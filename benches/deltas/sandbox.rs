//! The sandbox as a child process of the bench, and the few calls the bench makes to it.

use std::path::Path;
use std::process::Command;

use anyhow::{ensure, Context as _};
use serde_json::Value;

use crate::common::process::{Process, Ready};
use crate::common::{block_on, http, BIN};
use crate::{MAX_ANSWER_BYTES, READY_INTERVAL, READY_TIMEOUT, UNLIMITED_RPM};

/// Starts `switchboard sandbox` in `dir` (its stderr in `dir/sandbox.stderr`) on a free port
/// with the rate limit raised out of the way, waits until it answers, and checks the limit.
pub(crate) fn start_sandbox(dir: &Path) -> anyhow::Result<Process> {
    let mut command = Command::new(BIN);
    command
        .arg("sandbox")
        .current_dir(dir)
        .env("SWITCHBOARD__SANDBOX__RATE_LIMIT_PER_MINUTE", UNLIMITED_RPM);
    let ready = Ready {
        path: "/sandbox/faults",
        timeout: READY_TIMEOUT,
        interval: READY_INTERVAL,
    };
    let sandbox = Process::start(
        command,
        "sandbox",
        "SWITCHBOARD__SANDBOX__BIND",
        dir.join("sandbox.stderr"),
        ready,
    )?;
    let faults = block_on(get_json(&sandbox.base_url, "/sandbox/faults"))?;
    let limit = faults["rate_limit_per_minute"].to_string();
    ensure!(limit == UNLIMITED_RPM, "sandbox rate limit is {limit}");
    Ok(sandbox)
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
