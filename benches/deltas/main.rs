//! Delta benchmark: records per second `switchboard delta apply` pushes from a JSON-lines file
//! into the sandbox, next to the sandbox's own rate for the same batches sent directly (the
//! ceiling), and the CLI's peak RSS. Targets (issue): CLI ≥ 80% of the ceiling, RSS < 64 MiB.
//!
//! ```text
//! cargo bench --bench deltas
//! ```
//!
//! One run starts `switchboard sandbox` as its own process (rate limit raised out of the way),
//! writes `BENCH_RECORDS` records (`{"id", "fields": {"status", "score", "note"}}`, ~97 bytes a
//! line) to a temp dir, reads them back into batches of 1000 with the actor's own
//! `validate_record` + `prepare` (timed, once), then runs `BENCH_ROUNDS` rounds of:
//!
//! 1. ceiling: the sandbox reset, then the prepared batches PATCHed one at a time (as the CLI
//!    does) with the headers `DeltaBatchActor` sends, to data store `bench-ceiling`;
//! 2. CLI: the sandbox reset, then `switchboard delta apply --data-store bench-cli --conflict
//!    OVERWRITE FILE` as a child process: wall clock (start-up and validation pass included),
//!    the summary's own send phase, time inside HTTP calls (its audit log), and peak RSS and
//!    CPU time: exact `wait4` rusage through GNU time (`/usr/bin/time`; the workspace forbids
//!    `unsafe`, so the bench cannot call `wait4` itself), else `VmHWM` sampled from `/proc`
//!    (which can miss a short-lived peak).
//!
//! and finally the CLI once on a copy of the file with an invalid last line, to time the
//! validation pass alone (exit 1, nothing sent). The table shows the fastest ceiling and the
//! fastest CLI run (the machine may be shared; every round is printed too) and the largest RSS.
//!
//! Checked: every ceiling answer is 200 and echoes its checksum (a byte search, not a parse);
//! the CLI exits 0 having applied every record in as many batches as the ceiling; the sandbox
//! counted exactly those batches each time, and none for the invalid file. Environment
//! (optional): `BENCH_RECORDS` (default 1 000 000), `BENCH_ROUNDS` (default 3). Linux only
//! (`/proc`). Nothing is asserted against the targets.

mod ceiling;
mod cli;
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
mod records;
mod round;
mod sandbox;

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};

use crate::cli::run_cli;
use crate::common::{TempDir, BIN};
use crate::records::{load_batches, write_records};
use crate::round::{rate, round, Round};
use crate::sandbox::{delta_batches, start_sandbox};

/// Data store of the ceiling run.
pub(crate) const CEILING_STORE: &str = "bench-ceiling";
/// Data store of the CLI run.
pub(crate) const CLI_STORE: &str = "bench-cli";
/// The delta endpoint.
pub(crate) const DELTA_PATH: &str = "/api/v2/dataactions/records";
/// Rate limits (per minute) high enough never to throttle.
pub(crate) const UNLIMITED_RPM: &str = "100000000";
/// Longest wait for the sandbox to answer after start.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Time between checks whether the starting sandbox answers.
pub(crate) const READY_INTERVAL: Duration = Duration::from_millis(20);
/// How often the CLI child is checked for exit (and, without GNU time, its `/proc` sampled).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(5);

/// Largest answer body the bench reads.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// Target: CLI records/s over ceiling records/s.
pub(crate) const TARGET_RATIO: f64 = 0.80;
/// Target: CLI peak RSS in MiB.
pub(crate) const TARGET_RSS_MIB: f64 = 64.0;
/// GNU time: runs a command and reports its `wait4` rusage (exact peak RSS and CPU).
pub(crate) const GNU_TIME: &str = "/usr/bin/time";

/// Reads a count from the environment, `default` when unset.
pub(crate) fn env_count(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => {
            let n: usize = v.trim().parse().with_context(|| format!("{name}={v:?}"))?;
            ensure!(n > 0, "{name} must be at least 1");
            Ok(n)
        }
        Err(_) => Ok(default),
    }
}

fn main() -> anyhow::Result<()> {
    let records = env_count("BENCH_RECORDS", 1_000_000)?;
    let rounds = env_count("BENCH_ROUNDS", 3)?;
    let dir = TempDir(std::env::temp_dir().join(format!("sb-bench-deltas-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let file = dir.0.join("records.jsonl");
    let t = Instant::now();
    let bytes = write_records(&file, records)?;
    println!(
        "deltas bench: {records} records, {:.1} MiB ({:.0} B/line) written in {:.2} s; \
         {rounds} rounds; binary {BIN}",
        bytes as f64 / 1048576.0,
        bytes as f64 / records as f64,
        t.elapsed().as_secs_f64()
    );
    let sandbox = start_sandbox(&dir.0)?;
    let t = Instant::now();
    let batches = load_batches(&file, CEILING_STORE)?;
    let prepare_secs = t.elapsed().as_secs_f64();

    let mut done = Vec::with_capacity(rounds);
    for r in 1..=rounds {
        let x = round(&sandbox, &dir.0, &file, &batches, &format!("apply-{r}"))?;
        let (c, w) = (x.ceiling.as_secs_f64(), x.cli.wall.as_secs_f64());
        println!(
            "round {r}: ceiling {c:.2} s ({:.0} rec/s) | CLI {w:.2} s wall ({:.0} rec/s), send \
             phase {:.2} s | ratio {:.2} (send phase {:.2}) | RSS {:.1} MiB",
            rate(records, c),
            rate(records, w),
            x.send_secs,
            c / w,
            c / x.send_secs,
            x.cli.peak_rss_kib as f64 / 1024.0
        );
        done.push(x);
    }
    let before = delta_batches(&sandbox.base_url)?;
    let invalid = dir.0.join("invalid.jsonl");
    std::fs::copy(&file, &invalid)?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&invalid)?
        .write_all(b"{\"id\": \"bad\"}\n")?;
    let check = run_cli(&dir.0, &sandbox.base_url, &invalid, "validate")?;
    ensure!(
        check.status.code() == Some(1),
        "invalid file: {}",
        check.status
    );
    ensure!(
        delta_batches(&sandbox.base_url)? == before,
        "the invalid file sent batches"
    );
    drop(sandbox);

    let best = |f: fn(&Round) -> f64| {
        done.iter()
            .min_by(|a, b| f(a).total_cmp(&f(b)))
            .expect("at least one round")
    };
    let ceiling = best(|x| x.ceiling.as_secs_f64());
    let cli = best(|x| x.cli.wall.as_secs_f64());
    let (c, w) = (ceiling.ceiling.as_secs_f64(), cli.cli.wall.as_secs_f64());
    let send = cli.send_secs;
    let rss_mib = done.iter().map(|x| x.cli.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!("\nbest of {rounds} rounds (fastest ceiling, fastest CLI; RSS: the largest):\n");
    println!("| measure | value | note |\n|---|---:|---|");
    println!(
        "| records / batches | {records} / {} | 1000 per batch, one in flight |",
        batches.len()
    );
    println!(
        "| ceiling | {:.0} rec/s | {c:.2} s, {:.2} ms/batch; sandbox CPU {:.2} s, bench client CPU {:.2} s |",
        rate(records, c),
        c * 1000.0 / batches.len() as f64,
        ceiling.ceiling_sandbox_cpu,
        ceiling.ceiling_client_cpu
    );
    println!(
        "| bench prepare (read+parse+validate+serialise+sha256) | {:.0} rec/s | {prepare_secs:.2} s once, outside the ceiling's clock |",
        rate(records, prepare_secs)
    );
    println!(
        "| CLI wall clock | {:.0} rec/s | {w:.2} s incl. start-up and validation; CLI CPU {:.2} s, sandbox CPU {:.2} s |",
        rate(records, w),
        cli.cli.cpu_secs,
        cli.cli_sandbox_cpu
    );
    println!(
        "| CLI send phase (its summary) | {:.0} rec/s | {send:.2} s = {:.2} s in HTTP calls over {} batches (audit, ms-truncated) + {:.2} s between them |",
        rate(records, send),
        cli.http_secs,
        cli.audited,
        send - cli.http_secs
    );
    println!(
        "| CLI validation pass alone | {:.0} rec/s | {:.2} s wall (invalid last line: exit 1, nothing sent); CPU {:.2} s, peak RSS {:.1} MiB |",
        rate(records, check.wall.as_secs_f64()),
        check.wall.as_secs_f64(),
        check.cpu_secs,
        check.peak_rss_kib as f64 / 1024.0
    );
    println!(
        "| ratio CLI / ceiling | {:.2} | target ≥ {TARGET_RATIO:.2}: {}; send phase alone {:.2} |",
        c / w,
        verdict(c / w >= TARGET_RATIO),
        c / send
    );
    println!(
        "| CLI peak RSS | {rss_mib:.1} MiB | target < {TARGET_RSS_MIB:.0} MiB: {} ({}) |",
        verdict(rss_mib < TARGET_RSS_MIB),
        if cli.cli.exact {
            "ru_maxrss from wait4, via GNU time".to_string()
        } else {
            format!("VmHWM sampled every {} ms", POLL_INTERVAL.as_millis())
        }
    );
    Ok(())
}
