//! Export stream benchmark: records/s and MB/s of `GET /stream` for one stream and for
//! `BENCH_STREAMS` concurrent streams, next to the sandbox's own paging rate measured the same
//! way in the same run (the ceiling), and the service's RSS with `BENCH_IDLE_CLIENTS` idle slow
//! clients. Target (issue): one stream ≥ 80% of the ceiling.
//!
//! ```text
//! cargo bench --bench exports
//! ```
//!
//! A Kafka broker must listen (the service will not start without one):
//! `SWITCHBOARD_BENCH_BROKERS`, default `127.0.0.1:9092`; when nothing listens on the default,
//! the bench runs `scripts/broker.sh start 9092` (and leaves the broker running).
//!
//! One run starts `switchboard sandbox` and `switchboard serve` as their own processes (the
//! binary cargo built for this bench; rate limits raised out of the way, `RUST_LOG=warn`),
//! registers a report of `BENCH_RECORDS` records and one of `BENCH_RECORDS / BENCH_STREAMS`,
//! then runs `BENCH_ROUNDS` rounds of, in order:
//!
//! 1. ceiling: a new export job paged directly from the sandbox with awc, one page at a time,
//!    `limit` = `BENCH_CHUNK`, until the empty page, as the service does; bytes are those of
//!    the JSON pages;
//! 2. one stream over a real WebSocket (awc), `chunk_size_matrix: [BENCH_CHUNK]`, for each of
//!    compression none/gzip × `ack_window` 0/8: every chunk decoded and its checksum verified
//!    (`frame::verify_checksum`: decompress and SHA-256, then `scan::count_records` counts them and
//!    the first record's `seq` is checked), offsets checked contiguous,
//!    acks sent after verifying when the window is on, `complete` and close 1000 awaited;
//!    JSON MB/s counts uncompressed payload bytes (gzip: the ISIZE trailer), wire MB/s whole
//!    binary messages;
//! 3. the ceiling ×`BENCH_STREAMS`: that many pagers at once on the small report;
//! 4. `BENCH_STREAMS` streams at once (none, `ack_window` 8), each its own export job of the
//!    small report: the same total records as one stream; aggregate records/s;
//! 5. diagnostics (not target rows): one stream, none, `ack_window` 0, the client taking the
//!    count from the header without verifying (does this client limit the rate?); and one
//!    stream, none, `ack_window` 8, against a second service whose checkpoints live on tmpfs
//!    (`/dev/shm`, where `fsync` is free: what do per-chunk checkpoint saves cost?).
//!
//! Then the per-page cost, in this process on one page fetched from the sandbox: the service's
//! parse into `Vec<Value>`, shape check and `frame::encode` (none, gzip), the client's verify,
//! a checkpoint save in the temp dir and on tmpfs; the service's own view from its audit log
//! (page call latency, chunk latency); and CPU per page of sandbox and service. Finally a
//! fresh service process for memory: after a one-chunk warm-up export, its VmRSS/VmHWM idle,
//! then `BENCH_IDLE_CLIENTS` clients connect at once, send a request with `ack_window: 2`, read
//! until their first chunk and stop reading and acking; VmRSS/VmHWM are sampled
//! [`RSS_SAMPLES`] times over ~2 s (with the machine's kernel TCP socket memory, where bytes
//! written to a client that does not read wait), then the clients close.
//!
//! Each process's CPU seconds (`/proc/<pid>/stat`) are shown per variant: the machine has two
//! cores shared by sandbox, service and this client. Figures are the best round (the one
//! least disturbed by whatever else runs); every round is printed too. Environment (all
//! optional): `BENCH_RECORDS` (200 000), `BENCH_CHUNK` (1000), `BENCH_ROUNDS` (5),
//! `BENCH_STREAMS` (20), `BENCH_IDLE_CLIENTS` (100), `SWITCHBOARD_BENCH_BROKERS`, `BENCH_STATE_URL` (the services' state store; default a SQLite file in the
//! bench's temp dir, e.g. `postgres://switchboard@127.0.0.1:15432/switchboard` to measure checkpoints on
//! PostgreSQL). Linux only.
//! Nothing is asserted against the target; a wrong or missing record fails the run.

mod breakdown;
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
mod config;
mod memory;
mod pager;
mod process;
mod report;
mod round;
mod stream;

use std::path::Path;
use std::time::Duration;

use crate::breakdown::{await_audit, breakdown, checkpoint_save_ms};
use crate::common::{block_on, TempDir, BIN};
use crate::config::BenchConfig;
use crate::memory::idle_memory;
use crate::pager::register_report;
use crate::process::{ensure_broker, start_process, start_service};
use crate::report::{print_breakdown, print_memory, print_throughput};
use crate::round::{round, Run, CONCURRENT, DIAGNOSTIC, TMPFS_VARIANT, VARIANTS};
use crate::stream::{run_stream, Spec};

/// The report of the ceiling and the one-stream runs.
pub(crate) const REPORT: &str = "bench-export";
/// The report of the concurrent runs (`BENCH_RECORDS / BENCH_STREAMS` records).
pub(crate) const SMALL_REPORT: &str = "bench-export-small";
/// The warm-up report of the memory phase (one chunk).
pub(crate) const WARMUP_REPORT: &str = "bench-export-warmup";
/// Seed of the generated records.
pub(crate) const SEED: u64 = 7;
/// Rate limits (per minute) high enough never to throttle.
pub(crate) const UNLIMITED_RPM: &str = "100000000";
/// The service's client burst, high enough never to wait.
pub(crate) const UNLIMITED_BURST: &str = "100000";
/// Largest payload per chunk asked for (the reference consumer's default, 1 MiB).
pub(crate) const MAX_PAYLOAD: usize = 1 << 20;
/// Largest WebSocket frame the clients accept.
pub(crate) const MAX_FRAME: usize = MAX_PAYLOAD + 64 * 1024;
/// `ack_window` of the acknowledging variants (the reference consumer's default).
pub(crate) const ACK_WINDOW: u64 = 8;
/// `ack_window` of the idle slow clients.
pub(crate) const IDLE_ACK_WINDOW: u64 = 2;
/// Longest wait for a child process to answer after start.
pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Time between checks whether a starting child process answers.
pub(crate) const READY_INTERVAL: Duration = Duration::from_millis(50);

/// Longest wait for one stream or one idle client's first chunk.
pub(crate) const STREAM_TIMEOUT: Duration = Duration::from_secs(300);
/// Largest page body the ceiling reads.
pub(crate) const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;
/// RSS samples taken with the idle clients connected.
pub(crate) const RSS_SAMPLES: usize = 8;
/// Time between RSS samples (8 × 250 ms ≈ 2 s).
pub(crate) const RSS_INTERVAL: Duration = Duration::from_millis(250);
/// How often the service's audit log (flushed every second) is read again until it holds
/// every stream's record.
pub(crate) const AUDIT_POLL: Duration = Duration::from_millis(100);
/// Longest wait for the audit log to hold every stream's record.
pub(crate) const AUDIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Repetitions of each step of the in-process per-page breakdown (the median is shown).
pub(crate) const BREAKDOWN_REPEATS: usize = 25;
/// A tmpfs, where `fsync` costs nothing: the checkpoint directory of the diagnostic service.
pub(crate) const TMPFS: &str = "/dev/shm";
/// Target: one stream's records/s over the ceiling's.
pub(crate) const TARGET_RATIO: f64 = 0.80;

/// Bytes in a MB (decimal, as in MB/s).
pub(crate) const MB: f64 = 1e6;

pub(crate) type Conn = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

fn main() -> anyhow::Result<()> {
    let cfg = BenchConfig::from_env()?;
    ensure_broker(&cfg.brokers)?;
    let dir =
        TempDir(std::env::temp_dir().join(format!("sb-bench-exports-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let sandbox_env = [(
        "SWITCHBOARD__SANDBOX__RATE_LIMIT_PER_MINUTE",
        UNLIMITED_RPM.to_string(),
    )];
    let sandbox = start_process(
        &dir.0,
        "sandbox",
        &["sandbox"],
        "SWITCHBOARD__SANDBOX__BIND",
        &sandbox_env,
        "/sandbox/faults",
    )?;
    let checkpoints = |tag: &str| dir.0.join(tag).join("checkpoints");
    let mut service = start_service(
        &dir.0,
        "service",
        &sandbox,
        &cfg.brokers,
        &checkpoints("service"),
    )?;
    let shm = TempDir(Path::new(TMPFS).join(format!("sb-bench-exports-{}", std::process::id())));
    let mut tmpfs_service = start_service(&dir.0, "service-tmpfs", &sandbox, &cfg.brokers, &shm.0)?;
    block_on(async {
        register_report(&sandbox.base_url, REPORT, cfg.records).await?;
        register_report(&sandbox.base_url, SMALL_REPORT, cfg.small()).await?;
        register_report(&sandbox.base_url, WARMUP_REPORT, cfg.chunk).await
    })?;
    let n = cfg.streams;
    println!(
        "exports bench: report of {} records, chunk {}, {} rounds, {n} concurrent streams of {} \
         records, {} idle clients; binary {BIN}",
        cfg.records,
        cfg.chunk,
        cfg.rounds,
        cfg.small(),
        cfg.idle_clients
    );
    // Warm-up (token, connections, allocator), not measured.
    let warmup = Spec {
        report: SMALL_REPORT,
        expected: cfg.small(),
        chunk: cfg.chunk,
        compression: "none",
        ack_window: 0,
        verify: true,
    };
    block_on(run_stream(&service.base_url, warmup))?;
    block_on(run_stream(&tmpfs_service.base_url, warmup))?;

    let mut rounds: Vec<Vec<Run>> = Vec::with_capacity(cfg.rounds);
    let mut page = Vec::new();
    for r in 1..=cfg.rounds {
        let (runs, first) = block_on(round(&cfg, &service, &sandbox, &tmpfs_service))?;
        service.ensure_running()?;
        tmpfs_service.ensure_running()?;
        page = first;
        let ceiling = runs[0].rate();
        let mut line = format!("round {r}: ceiling {ceiling:.0} rec/s");
        for (name, run) in VARIANTS.iter().zip(&runs).skip(1).take(4) {
            let short = name.trim_start_matches("stream ");
            line += &format!(" | {short} {:.0} ({:.2})", run.rate(), run.rate() / ceiling);
        }
        let (c, s) = (&runs[CONCURRENT], &runs[CONCURRENT + 1]);
        let (d, t) = (&runs[DIAGNOSTIC], &runs[TMPFS_VARIANT]);
        line += &format!(
            " | ceiling ×{n} {:.0} | {n} streams {:.0} ({:.2}) | no-verify {:.0} ({:.2}) | \
             tmpfs ack 8 {:.0} ({:.2})",
            c.rate(),
            s.rate(),
            s.rate() / c.rate(),
            d.rate(),
            d.rate() / ceiling,
            t.rate(),
            t.rate() / ceiling
        );
        println!("{line}");
        rounds.push(runs);
    }
    let throughput_rss = service.rss_kib();
    // Every stream of the rounds but the tmpfs variant's (its own service) ran on `service`.
    let jobs: Vec<String> = rounds
        .iter()
        .flat_map(|runs| {
            runs.iter()
                .enumerate()
                .filter(|(v, _)| *v != TMPFS_VARIANT)
                .flat_map(|(_, run)| run.jobs.iter().cloned())
        })
        .collect();
    let audit = await_audit(&dir.0.join("service").join("audit.jsonl"), &jobs)?;
    drop(service);
    drop(tmpfs_service);
    let cost = breakdown(&page)?;
    let saves = (
        checkpoint_save_ms(&dir.0.join("checkpoint-timing"))?,
        checkpoint_save_ms(&shm.0.join("checkpoint-timing"))?,
    );
    let best = |v: usize| -> Run {
        rounds
            .iter()
            .map(|runs| &runs[v])
            .max_by(|a, b| a.rate().total_cmp(&b.rate()))
            .cloned()
            .unwrap_or_default()
    };
    print_throughput(&cfg, &best);
    print_breakdown(&cfg, &best, &page, &cost, &audit, saves);

    let memory_service = start_service(
        &dir.0,
        "service-memory",
        &sandbox,
        &cfg.brokers,
        &checkpoints("service-memory"),
    )?;
    let memory = block_on(idle_memory(&cfg, &memory_service))?;
    drop(memory_service);
    print_memory(&cfg, throughput_rss, &memory);
    println!(
        "\nchecked: every record of every stream arrived once, in order, checksum verified \
         (except the no-verify row); a stream's JSON bytes equal the pages' ({} vs {})",
        best(1).moved.json_bytes,
        best(0).moved.json_bytes
    );
    Ok(())
}
