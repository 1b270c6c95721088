//! `switchboard delta apply` as a child process: wall clock, peak RSS, CPU and its audit log.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::Value;

use crate::common::procfs::{proc_cpu_secs, proc_status_kib};
use crate::common::BIN;
use crate::{CLI_STORE, GNU_TIME, POLL_INTERVAL, UNLIMITED_RPM};

/// What a CLI run measured.
pub(crate) struct CliRun {
    pub(crate) status: ExitStatus,
    pub(crate) wall: Duration,
    pub(crate) peak_rss_kib: u64,
    pub(crate) cpu_secs: f64,
    /// Whether RSS and CPU came from `wait4` (GNU time) rather than `/proc` samples.
    pub(crate) exact: bool,
    pub(crate) stdout: String,
}

/// `ru_maxrss` (KiB) and user + system CPU seconds from GNU time's `-f "%M %U %S"` report
/// (its last line; a failed command's status line comes first).
pub(crate) fn parse_rusage(report: &str) -> Option<(u64, f64)> {
    let mut parts = report.lines().last()?.split_whitespace();
    let kib = parts.next()?.parse().ok()?;
    let user: f64 = parts.next()?.parse().ok()?;
    let system: f64 = parts.next()?.parse().ok()?;
    Some((kib, user + system))
}

/// Runs `switchboard delta apply` on `file` against `base`, measuring its wall clock, peak
/// RSS and CPU: exactly through GNU time (`wait4`'s rusage) when [`GNU_TIME`] exists, else by
/// sampling `/proc/<pid>` every [`POLL_INTERVAL`].
pub(crate) fn run_cli(dir: &Path, base: &str, file: &Path, tag: &str) -> anyhow::Result<CliRun> {
    let stdout_path = dir.join(format!("{tag}.stdout"));
    let rusage_path = dir.join(format!("{tag}.rusage"));
    let exact = Path::new(GNU_TIME).is_file();
    let mut command = if exact {
        let mut c = Command::new(GNU_TIME);
        c.args(["-f", "%M %U %S", "-o"]).arg(&rusage_path).arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    command
        .args(["delta", "apply", "--data-store", CLI_STORE])
        .args(["--conflict", "OVERWRITE"])
        .arg(file)
        .current_dir(dir)
        .env_remove("CXONE_BASE_URL")
        .env_remove("CXONE_CLIENT_ID")
        .env_remove("CXONE_CLIENT_SECRET")
        .env("SWITCHBOARD__CXONE__BASE_URL", base)
        .env("SWITCHBOARD__CXONE__REQUESTS_PER_MINUTE", UNLIMITED_RPM)
        .env("SWITCHBOARD__CXONE__BURST", "100000")
        .env(
            "SWITCHBOARD__AUDIT__PATH",
            dir.join(format!("{tag}.audit.jsonl")),
        )
        .env("RUST_LOG", "warn")
        .stdout(File::create(&stdout_path)?)
        .stderr(File::create(dir.join(format!("{tag}.stderr")))?);
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {BIN} delta apply"))?;
    let pid = child.id();
    let (mut peak_rss_kib, mut cpu_secs) = (0, 0.0);
    let status = loop {
        if !exact {
            // VmHWM is the kernel's own high-water mark: a sample misses only a peak reached
            // and released since the last one (the validation pass's HashSet resize is one).
            if let Some(hwm) = proc_status_kib(pid, "VmHWM:") {
                peak_rss_kib = peak_rss_kib.max(hwm);
            }
            if let Some(cpu) = proc_cpu_secs(pid) {
                cpu_secs = cpu;
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(POLL_INTERVAL);
    };
    let wall = started.elapsed();
    if exact {
        let report = std::fs::read_to_string(&rusage_path)?;
        (peak_rss_kib, cpu_secs) =
            parse_rusage(&report).with_context(|| format!("GNU time reported {report:?}"))?;
    }
    Ok(CliRun {
        status,
        wall,
        peak_rss_kib,
        cpu_secs,
        exact,
        stdout: std::fs::read_to_string(stdout_path)?,
    })
}

/// Sum and count of `latency_ms` of the `DeltaBatchActor` records of an audit log.
pub(crate) fn audit_batch_latency(path: &Path) -> anyhow::Result<(u64, u64)> {
    let (mut sum, mut count) = (0, 0);
    for line in BufReader::new(File::open(path)?).lines() {
        let event: Value = serde_json::from_str(&line?)?;
        if event["actor"] == "DeltaBatchActor" {
            sum += event["latency_ms"].as_u64().unwrap_or(0);
            count += 1;
        }
    }
    Ok((sum, count))
}
