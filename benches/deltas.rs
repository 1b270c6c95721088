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

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::{bail, ensure, Context as _};
use serde_json::Value;
use switchboard_actors::deltas::batch::API_MAX_BATCH;
use switchboard_actors::deltas::{
    prepare, validate_record, ConflictResolution, Problems, UpdateType,
};

/// The binary under test, built by cargo with the bench profile.
const BIN: &str = env!("CARGO_BIN_EXE_switchboard");
/// Data store of the ceiling run.
const CEILING_STORE: &str = "bench-ceiling";
/// Data store of the CLI run.
const CLI_STORE: &str = "bench-cli";
/// The delta endpoint.
const DELTA_PATH: &str = "/api/v2/dataactions/records";
/// Token request of the sandbox's default tenant.
const TOKEN_FORM: &str =
    "grant_type=client_credentials&client_id=switchboard&client_secret=switchboard-sandbox-secret";
/// Rate limits (per minute) high enough never to throttle.
const UNLIMITED_RPM: &str = "100000000";
/// Longest wait for the sandbox to answer after start.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How often the CLI child is checked for exit (and, without GNU time, its `/proc` sampled).
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// Timeout of one HTTP request of the bench.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer body the bench reads.
const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// Target: CLI records/s over ceiling records/s.
const TARGET_RATIO: f64 = 0.80;
/// Target: CLI peak RSS in MiB.
const TARGET_RSS_MIB: f64 = 64.0;
/// GNU time: runs a command and reports its `wait4` rusage (exact peak RSS and CPU).
const GNU_TIME: &str = "/usr/bin/time";
/// Clock ticks per second of `/proc/<pid>/stat` times (USER_HZ, 100 on Linux).
const CLK_TCK: f64 = 100.0;

/// The temp dir of one run, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The sandbox child process, killed on drop (also when the bench panics).
struct SandboxProcess {
    child: Child,
    base_url: String,
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SandboxProcess {
    /// Starts `switchboard sandbox` on a free port and waits until it answers.
    fn start(dir: &Path) -> anyhow::Result<SandboxProcess> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
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
            child,
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
    fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.child.id()).unwrap_or(f64::NAN)
    }
}

/// CPU seconds (user + system) the bench process has used so far.
fn own_cpu_secs() -> f64 {
    proc_cpu_secs(std::process::id()).unwrap_or(f64::NAN)
}

/// Runs `fut` on a fresh actix system (awc needs one).
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    actix_rt::System::new().block_on(fut)
}

fn http() -> awc::Client {
    awc::Client::builder().timeout(HTTP_TIMEOUT).finish()
}

/// `GET base + path`, a 200 JSON answer.
async fn get_json(base: &str, path: &str) -> anyhow::Result<Value> {
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

/// Writes `n` records, one JSON line each; returns the file's size in bytes.
fn write_records(path: &Path, n: usize) -> anyhow::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    for i in 0..n {
        writeln!(
            out,
            r#"{{"id":"r{i}","fields":{{"status":"active","score":{i},"note":"callback about the invoice"}}}}"#
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Reads, validates and batches `file` as the CLI does; returns each batch's body and checksum.
fn load_batches(file: &Path, data_store_id: &str) -> anyhow::Result<Vec<(Bytes, String)>> {
    let mut batches = Vec::new();
    let mut chunk = Vec::with_capacity(API_MAX_BATCH);
    let flush = |chunk: &mut Vec<_>, batches: &mut Vec<(Bytes, String)>| {
        let b = prepare(
            batches.len(),
            data_store_id,
            chunk,
            UpdateType::Upsert,
            ConflictResolution::Overwrite,
        );
        batches.push((Bytes::from(b.body), b.checksum));
        chunk.clear();
    };
    for (i, line) in BufReader::with_capacity(1 << 16, File::open(file)?)
        .lines()
        .enumerate()
    {
        let value: Value = serde_json::from_str(&line?)?;
        let record = validate_record(&value, i, &mut Problems::default())
            .with_context(|| format!("line {} is not a record", i + 1))?;
        chunk.push(record);
        if chunk.len() == API_MAX_BATCH {
            flush(&mut chunk, &mut batches);
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk, &mut batches);
    }
    Ok(batches)
}

/// PATCHes every batch in order, one in flight, with the actor's headers; returns the time.
///
/// Errors: a token failure, or an answer other than 200 echoing the batch's checksum.
async fn send_ceiling(base: &str, batches: &[(Bytes, String)]) -> anyhow::Result<Duration> {
    let client = http();
    let mut resp = client
        .post(format!("{base}/oauth/token"))
        .content_type("application/x-www-form-urlencoded")
        .send_body(TOKEN_FORM)
        .await
        .map_err(|e| anyhow::anyhow!("token: {e}"))?;
    let token: Value = serde_json::from_slice(&resp.body().await?)?;
    let bearer = format!(
        "Bearer {}",
        token["access_token"].as_str().context("no access_token")?
    );
    let url = format!("{base}{DELTA_PATH}");
    let started = Instant::now();
    for (index, (body, checksum)) in batches.iter().enumerate() {
        let mut resp = client
            .patch(&url)
            .insert_header(("Authorization", bearer.as_str()))
            .insert_header(("Accept", "application/json"))
            .insert_header(("X-Correlation-ID", format!("bench-{index}")))
            .insert_header(("X-Payload-Checksum", checksum.as_str()))
            .insert_header(("Idempotency-Key", checksum.as_str()))
            .insert_header(("If-Match", "*"))
            .insert_header(("X-CXone-Version-Stamp", "true"))
            .insert_header(("Content-Type", "application/json"))
            .send_body(body.clone())
            .await
            .map_err(|e| anyhow::anyhow!("batch {index}: {e}"))?;
        let answer = resp.body().limit(MAX_ANSWER_BYTES).await?;
        ensure!(
            resp.status().as_u16() == 200,
            "batch {index}: HTTP {}",
            resp.status()
        );
        // The sandbox answers compact JSON; a byte search keeps the bench's own client thin
        // (parsing the ~20 KB answer would charge the ceiling with client work).
        let echoed = format!("\"checksum\":\"{checksum}\"");
        ensure!(
            answer.windows(echoed.len()).any(|w| w == echoed.as_bytes()),
            "batch {index}: checksum not echoed"
        );
    }
    Ok(started.elapsed())
}

/// What a CLI run measured.
struct CliRun {
    status: ExitStatus,
    wall: Duration,
    peak_rss_kib: u64,
    cpu_secs: f64,
    /// Whether RSS and CPU came from `wait4` (GNU time) rather than `/proc` samples.
    exact: bool,
    stdout: String,
}

/// `key:   value kB` of `/proc/<pid>/status`.
fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// User + system CPU seconds of `/proc/<pid>/stat`.
fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "pid (comm) " start at field 3; utime and stime are fields 14 and 15.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / CLK_TCK)
}

/// `ru_maxrss` (KiB) and user + system CPU seconds from GNU time's `-f "%M %U %S"` report
/// (its last line; a failed command's status line comes first).
fn parse_rusage(report: &str) -> Option<(u64, f64)> {
    let mut parts = report.lines().last()?.split_whitespace();
    let kib = parts.next()?.parse().ok()?;
    let user: f64 = parts.next()?.parse().ok()?;
    let system: f64 = parts.next()?.parse().ok()?;
    Some((kib, user + system))
}

/// Runs `switchboard delta apply` on `file` against `base`, measuring its wall clock, peak
/// RSS and CPU: exactly through GNU time (`wait4`'s rusage) when [`GNU_TIME`] exists, else by
/// sampling `/proc/<pid>` every [`POLL_INTERVAL`].
fn run_cli(dir: &Path, base: &str, file: &Path, tag: &str) -> anyhow::Result<CliRun> {
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
fn audit_batch_latency(path: &Path) -> anyhow::Result<(u64, u64)> {
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

/// Batches the sandbox answered 200 since its last reset.
fn delta_batches(base: &str) -> anyhow::Result<u64> {
    let state = block_on(get_json(base, "/sandbox/state"))?;
    state["delta_batches"].as_u64().context("no delta_batches")
}

/// `POST /sandbox/reset`: empties data stores, idempotency keys and counters (tokens stay).
fn reset(base: &str) -> anyhow::Result<()> {
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

/// What one round measured.
struct Round {
    ceiling: Duration,
    ceiling_sandbox_cpu: f64,
    /// CPU seconds of the bench's own client during the ceiling.
    ceiling_client_cpu: f64,
    cli: CliRun,
    cli_sandbox_cpu: f64,
    /// The summary's `elapsed_ms`, in seconds (the send phase).
    send_secs: f64,
    /// Sum of the audited batch latencies, in seconds, and how many batches were audited.
    http_secs: f64,
    audited: u64,
}

/// One round: the ceiling, then the CLI, each into a freshly reset sandbox (so both apply
/// `records` new records to an empty store and no idempotency key is replayed).
fn round(
    sandbox: &SandboxProcess,
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

fn rate(records: usize, secs: f64) -> f64 {
    records as f64 / secs.max(1e-9)
}

/// Reads a count from the environment, `default` when unset.
fn env_count(name: &str, default: usize) -> anyhow::Result<usize> {
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
    let sandbox = SandboxProcess::start(&dir.0)?;
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
