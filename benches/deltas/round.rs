//! One round of the bench: the ceiling, then the CLI, each into a freshly reset sandbox.

use std::path::Path;
use std::time::Duration;

use actix_web::web::Bytes;
use anyhow::{ensure, Context as _};
use serde_json::Value;

use crate::ceiling::send_ceiling;
use crate::cli::{audit_batch_latency, run_cli, CliRun};
use crate::common::block_on;
use crate::common::process::Process;
use crate::common::procfs::proc_cpu_secs;
use crate::sandbox::{delta_batches, reset};

/// CPU seconds (user + system) the bench process has used so far.
pub(crate) fn own_cpu_secs() -> f64 {
    proc_cpu_secs(std::process::id()).unwrap_or(f64::NAN)
}

/// What one round measured.
pub(crate) struct Round {
    pub(crate) ceiling: Duration,
    pub(crate) ceiling_sandbox_cpu: f64,
    /// CPU seconds of the bench's own client during the ceiling.
    pub(crate) ceiling_client_cpu: f64,
    pub(crate) cli: CliRun,
    pub(crate) cli_sandbox_cpu: f64,
    /// The summary's `elapsed_ms`, in seconds (the send phase).
    pub(crate) send_secs: f64,
    /// Sum of the audited batch latencies, in seconds, and how many batches were audited.
    pub(crate) http_secs: f64,
    pub(crate) audited: u64,
}

/// One round: the ceiling, then the CLI, each into a freshly reset sandbox (so both apply
/// `records` new records to an empty store and no idempotency key is replayed).
pub(crate) fn round(
    sandbox: &Process,
    dir: &Path,
    file: &Path,
    batches: &[(Bytes, String)],
    tag: &str,
) -> anyhow::Result<Round> {
    let (base, expected) = (sandbox.base_url.as_str(), batches.len() as u64);
    reset(base)?;
    let (cpu, own) = (sandbox.cpu_secs(), own_cpu_secs());
    let ceiling = block_on(send_ceiling(base, batches))?;
    let (ceiling_sandbox_cpu, ceiling_client_cpu) =
        (sandbox.cpu_secs() - cpu, own_cpu_secs() - own);
    let counted = delta_batches(base)?;
    ensure!(
        counted == expected,
        "ceiling: sandbox counted {counted} of {expected} batches"
    );
    reset(base)?;
    let cpu = sandbox.cpu_secs();
    let cli = run_cli(dir, base, file, tag)?;
    let cli_sandbox_cpu = sandbox.cpu_secs() - cpu;
    ensure!(
        cli.status.success(),
        "delta apply: {}: {}",
        cli.status,
        cli.stdout
    );
    let summary: Value = serde_json::from_str(&cli.stdout).context("CLI summary")?;
    let records = summary["records"].as_u64();
    ensure!(
        summary["applied"].as_u64() == records,
        "CLI applied {}",
        summary["applied"]
    );
    let sent = summary["batches_sent"].as_u64();
    let counted = delta_batches(base)?;
    ensure!(
        sent == Some(expected) && counted == expected,
        "CLI: sent {sent:?} batches, sandbox counted {counted}, expected {expected}"
    );
    let (http_ms, audited) = audit_batch_latency(&dir.join(format!("{tag}.audit.jsonl")))?;
    Ok(Round {
        ceiling,
        ceiling_sandbox_cpu,
        ceiling_client_cpu,
        cli,
        cli_sandbox_cpu,
        send_secs: summary["elapsed_ms"].as_f64().unwrap_or(f64::NAN) / 1000.0,
        http_secs: http_ms as f64 / 1000.0,
        audited,
    })
}

pub(crate) fn rate(records: usize, secs: f64) -> f64 {
    records as f64 / secs.max(1e-9)
}
