//! Ingestion benchmark: how many Data Action webhooks per second switchboard turns into
//! broker-acknowledged Kafka records, next to the two ceilings it cannot beat.
//!
//! Run with a broker listening (`scripts/broker.sh start 9092`):
//!
//! ```text
//! cargo bench --bench ingest
//! ```
//!
//! One run measures, with the same pre-serialised seed-004 events and the same load generator
//! (awc on its own thread, `BENCH_CONCURRENCY` requests in flight), each target
//! `BENCH_ROUNDS` times on fresh events, and reports the best round (the one least disturbed
//! by the rest of the machine) and the median. The rounds are interleaved: every target is
//! started (and warmed up) first, then round 1 of each runs, then round 2 of each, and so on,
//! so a round of ingestion and the same round of the ceilings are measured seconds apart on a
//! machine whose speed drifts over minutes. The ratio is given from the best rounds and round
//! by round (ingestion's round k against the lower ceiling's round k), with its median:
//!
//! 0. reading an event ([`parse`]): the service's one-pass reader against serde_json on the
//!    same bodies, compact and pretty-printed, on one thread (no broker needed);
//! 1. the TCP_NODELAY trap: sequential rskafka produce requests of growing size, to show where
//!    requests wait ~40 ms for a delayed ACK and that `kafka.max_batch_bytes` stays below it;
//! 2. the HTTP ceiling: a bare actix-web server (`BENCH_WORKERS` workers) answering 200 to
//!    every POST;
//! 3. the broker ceiling: rskafka produce of the same records, one per request (B1) and in
//!    batches (B2), at the same concurrency;
//! 4. the lean pipeline (C, [`lean`]): the least work that turns a webhook into a
//!    broker-acknowledged record — the service's parse, rules, record and batching limits,
//!    all on the HTTP worker's thread, with no dedupe, acknowledgement or actor — so that
//!    ingestion / C is what the service's guarantees and actors cost, and C / the lower
//!    ceiling is what routing to this broker costs on this machine whatever the service does;
//! 5. ingestion: the real service (sandbox + `Application::build`, `BENCH_WORKERS` workers) on
//!    `POST /webhook/cxone/data-actions`, answering 200 only after the broker acknowledged;
//!    with the split of its latency into the router's partition queue and the produce
//!    request (from `/metrics`);
//! 6. ingestion with `routing.dedupe = "shared"` (target `shared`): the same service keeping
//!    the dedupe window in the state store (`BENCH_STATE_URL`, e.g. PostgreSQL), reported
//!    against 5 (best rounds, and round by round; the aim is ≥ 0.8);
//! 7. ingestion with each `kafka.compression` codec (target `codecs`, not in the defaults:
//!    four more services), each against 5;
//! 8. ingestion over TLS (target `tls`, not in the defaults): the service with `kafka.tls` to
//!    a nisshi broker it starts serving TLS only (a CA and certificate made here), against 5
//!    (the plaintext broker should be nisshi too, as `scripts/broker.sh` starts it).
//!
//! Each concurrency starts by deleting the topics that earlier concurrencies and earlier runs
//! left (`sbbench-*`): a memory store costs more per produce request the more it holds
//! (tansu 0.6, measured here: ~125–140 µs fresh, ~190 µs after 200 000 records). Within a
//! concurrency the broker ceiling produces each round to a fresh topic it deletes afterwards,
//! so only ingestion's own records accumulate, as they would if it ran alone.
//!
//! Each target's best round is also broken down by CPU per event (from `/proc`): the load
//! generator's thread, the rest of this process (the server under test, or the bench's
//! rskafka client for the broker rows), the broker's process when a `nisshi` naming the
//! broker's address runs on this machine, PostgreSQL's processes when it runs here (`store`:
//! shared dedupe's claims and confirms), and the cores kept busy. All three share the
//! machine's cores, so this is what bounds a target once they are all busy.
//!
//! Targets 2–5 run at each concurrency of `BENCH_CONCURRENCY` (default 64 and 256). Two are
//! measured because the ratio means different things: at 64 in flight the service is bound by
//! latency (throughput = in flight / latency, and every event waits for a broker round trip
//! the bare handler does not make), at 256 both sides are bound by the two cores, and the
//! ratio measures the cost per event.
//!
//! Environment (all optional):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SWITCHBOARD_BENCH_BROKERS` | `127.0.0.1:9092` | broker to use |
//! | `BENCH_STATE_URL` | a SQLite file in the temp dir | the service's state store (e.g. PostgreSQL, for shared dedupe) |
//! | `BENCH_EVENTS` | 20000 | measured events per round and target (plus 500 warm-up) |
//! | `BENCH_ROUNDS` | 5 | measured rounds per target |
//! | `BENCH_CONCURRENCY` | `64,256` | requests in flight; each listed value measures every target again (the trap sweep runs once, with one in flight) |
//! | `BENCH_LINGER_MS` | config | `kafka.linger_ms` of the service and of the lean pipeline |
//! | `BENCH_MAX_IN_FLIGHT` | config | `kafka.max_in_flight` of both |
//! | `BENCH_MAX_BATCH_BYTES` | config | `kafka.max_batch_bytes` of both |
//! | `BENCH_MAX_BATCH_RECORDS` | config | `kafka.max_batch_records` of both |
//! | `BENCH_WORKERS` | 1 | HTTP workers of the bare server and of the service alike: one, because the load generator's thread and the broker share the machine's 2 cores with the server (both servers measured faster with one worker than with two here) |
//! | `BENCH_ACK_RPM` | 100 | client rate limit of acknowledgements per minute: the tenant default (`cxone.requests_per_minute`), as in production, where acknowledgements are bounded by the tenant's limit far below ingestion; 60000 makes the in-process sandbox answer ~1000 acknowledgements/s on the same 2 cores |
//! | `BENCH_PAYLOAD_BYTES` | 260 | size of an event's compact `payload` JSON |
//! | `BENCH_B2_BATCH` | 20 | records per produce request in baseline B2 |
//! | `BENCH_TRAP_REQUESTS` | 30 | sequential requests per size in the trap sweep |
//! | `BENCH_TARGETS` | `parse,trap,http,broker,lean,ingest,shared` | which parts to run |
//! | `RUST_LOG` | `error` | log filter (with `warn`, acknowledgements dropped once `routing.ack_queue_capacity` is full log two lines a second) |
//!
//! Nothing is asserted: the bench prints figures and ratios. Without `--bench` (as under
//! `cargo test --all-targets`) it does nothing.

mod baselines;
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
mod config;
mod cpu;
mod events;
mod ingestion;
mod lean;
mod load;
mod parse;
mod stats;
mod tls;
mod trap;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use switchboard::config::Settings;
use switchboard::routes::event::EventLimits;
use switchboard_actors::settings::{DedupeMode, KafkaCompression};

use crate::baselines::{drop_bench_topics, http_ceiling, BrokerCeiling};
use crate::config::BenchConfig;
use crate::events::{generate_events, Event};
use crate::ingestion::{Ingestion, Variant};
use crate::lean::lean_pipeline;
use crate::parse::parse_costs;
use crate::stats::{median_of_sorted, print_cpu_header, print_cpu_row, print_row, Target};
use crate::trap::trap_sweep;

/// Requests (or records) sent before a target's first measured round, not counted.
pub(crate) const WARMUP: usize = 500;
/// The ingestion route.
pub(crate) const WEBHOOK_PATH: &str = "/webhook/cxone/data-actions";
/// HTTP workers of the service and of the bare actix server, unless `BENCH_WORKERS` says.
pub(crate) const WORKERS: usize = 1;
/// Longest wait for one produce request in the broker baselines.
pub(crate) const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Client id of the bench's own rskafka client.
pub(crate) const BENCH_CLIENT_ID: &str = "switchboard-bench";
/// A mean above this (ms) marks a trapped request size.
pub(crate) const TRAP_MS: f64 = 10.0;
/// Filler text for the `notes` field.
pub(crate) const LOREM: &str =
    "Customer asked for a callback about the invoice; agent promised a follow-up \
    within two business days and logged the case for the billing team to review. ";

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and a test run must not need a broker or take a minute.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ingest: skipped (run it with `cargo bench --bench ingest`)");
        return Ok(());
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let cfg = BenchConfig::from_env()?;
    let defaults = Settings::load(None).context("loading the default settings")?;
    let events = Arc::new(generate_events(
        WARMUP + cfg.rounds * cfg.events,
        cfg.payload_bytes,
    )?);

    let sample = &events[0];
    let record_size = sample.record().approximate_size();
    let max_batch_bytes = cfg
        .max_batch_bytes
        .unwrap_or(defaults.kafka.max_batch_bytes);
    let router_records = (max_batch_bytes / record_size.max(1)).clamp(
        1,
        cfg.max_batch_records
            .unwrap_or(defaults.kafka.max_batch_records)
            .max(1),
    );
    let share = |p: i32| {
        events.iter().filter(|e| e.partition == p).count() as f64 * 100.0 / events.len() as f64
    };
    println!("switchboard ingest bench");
    println!(
        "  broker {}  events {} per round (+{WARMUP} warm-up)  rounds {}  requests in flight {:?}  cores {}",
        cfg.brokers,
        cfg.events,
        cfg.rounds,
        cfg.concurrencies,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  event body {} B, payload {} B, record ~{} B (key+value+headers); routes high {:.0}% / eu {:.0}% / default {:.0}%",
        sample.body.len(),
        sample.payload.len(),
        record_size,
        share(0),
        share(1),
        share(2)
    );

    if cfg.runs("parse") {
        parse_costs(&events, EventLimits::of(&defaults.routing));
    }

    if cfg.runs("trap") {
        println!();
        println!(
            "TCP_NODELAY trap: sequential produce requests (1 in flight), {} per size",
            cfg.trap_requests
        );
        println!(
            "{:>8} {:>12} {:>12} {:>9} {:>9} {:>9}",
            "records", "record B", "≈request B", "mean ms", "p50 ms", "max ms"
        );
        let rows = trap_sweep(&cfg, &events, router_records).await?;
        for r in &rows {
            let mark = if r.mean_ms > TRAP_MS {
                "  <- trapped"
            } else {
                ""
            };
            let router = if r.records == router_records {
                "  (router max batch)"
            } else {
                ""
            };
            println!(
                "{:>8} {:>12} {:>12} {:>9.2} {:>9.2} {:>9.2}{mark}{router}",
                r.records, r.approx_bytes, r.request_bytes, r.mean_ms, r.p50_ms, r.max_ms
            );
        }
        let fast_below = rows
            .iter()
            .take_while(|r| r.mean_ms <= TRAP_MS)
            .last()
            .map(|r| r.request_bytes);
        let trapped_from = rows
            .iter()
            .find(|r| r.mean_ms > TRAP_MS)
            .map(|r| r.request_bytes);
        match (fast_below, trapped_from) {
            (Some(fast), Some(slow)) => {
                println!("  the trap starts between ≈{fast} B and ≈{slow} B per request")
            }
            (None, Some(slow)) => println!("  even the smallest request (≈{slow} B) is trapped"),
            (_, None) => println!("  no size was trapped (mean ≤ {TRAP_MS} ms everywhere)"),
        }
        let last_trapped = rows.iter().rposition(|r| r.mean_ms > TRAP_MS);
        if let Some(i) = last_trapped {
            if let Some(after) = rows.get(i + 1) {
                println!(
                    "  and ends between ≈{} B and ≈{} B per request",
                    rows[i].request_bytes, after.request_bytes
                );
            }
        }
        let router_row = rows.iter().find(|r| r.records == router_records);
        if let Some(r) = router_row {
            println!(
                "  kafka.max_batch_bytes = {max_batch_bytes}: at most {} of these records, ≈{} B per request, {:.2} ms mean -> {}",
                r.records,
                r.request_bytes,
                r.mean_ms,
                if r.mean_ms > TRAP_MS { "TRAPPED" } else { "below the trap" }
            );
        }
    }

    let mut summary = Vec::new();
    for (pass, &concurrency) in cfg.concurrencies.iter().enumerate() {
        let at = BenchConfig {
            concurrency,
            ..cfg.clone()
        };
        // Fresh events for every pass: shared dedupe's window is in the state store and
        // outlives the pass's service, so the same events again would all be duplicates.
        let events = match pass {
            0 => events.clone(),
            _ => Arc::new(generate_events(
                WARMUP + cfg.rounds * cfg.events,
                cfg.payload_bytes,
            )?),
        };
        if let Some(ratio) = measure_at(&at, &events).await? {
            summary.push((concurrency, ratio));
        }
    }
    if summary.len() > 1 {
        println!();
        println!("summary: ratio ingestion / lower ceiling by requests in flight (best rounds; median round by round):");
        for (c, (best, median)) in &summary {
            println!("  {c:>4} in flight: {best:.2} ({median:.2})  target >= 0.50");
        }
    }
    Ok(())
}

/// Measures the HTTP ceiling, the broker ceiling and ingestion at `cfg.concurrency` requests
/// in flight, their rounds interleaved (round 1 of each target, then round 2 of each, ...) so
/// that each round of a target is measured within seconds of the same round of the others;
/// prints their table and ratios, and returns the ratio of ingestion to the lower ceiling
/// (best rounds; median of the per-round ratios) when all three ran.
async fn measure_at(
    cfg: &BenchConfig,
    events: &Arc<Vec<Event>>,
) -> anyhow::Result<Option<(f64, f64)>> {
    println!();
    println!("== {} requests in flight ==", cfg.concurrency);
    if cfg.runs("broker") || cfg.runs("lean") || cfg.runs("ingest") {
        drop_bench_topics(&cfg.brokers).await?;
    }
    let mut http = cfg.runs("http").then(|| http_ceiling(cfg)).transpose()?;
    let mut broker = if cfg.runs("broker") {
        Some(BrokerCeiling::start(cfg).await?)
    } else {
        None
    };
    let mut lean = if cfg.runs("lean") {
        Some(lean_pipeline(cfg).await?)
    } else {
        None
    };
    let mut ingest = if cfg.runs("ingest") {
        Some(Ingestion::start(cfg, events, Variant::PLAIN).await?)
    } else {
        None
    };
    let mut shared = if cfg.runs("shared") {
        let variant = Variant {
            dedupe: DedupeMode::Shared,
            ..Variant::PLAIN
        };
        Some(Ingestion::start(cfg, events, variant).await?)
    } else {
        None
    };
    // Kept until the end: the TLS target's broker.
    let tls_broker = if cfg.runs("tls") {
        Some(tls::start()?)
    } else {
        None
    };
    let mut over_tls = match &tls_broker {
        Some(broker) => {
            let variant = Variant {
                tls: Some((broker.address.clone(), broker.ca_file.clone())),
                ..Variant::PLAIN
            };
            Some(Ingestion::start(cfg, events, variant).await?)
        }
        None => None,
    };
    let mut codecs = Vec::new();
    if cfg.runs("codecs") {
        for compression in [
            KafkaCompression::Gzip,
            KafkaCompression::Lz4,
            KafkaCompression::Snappy,
            KafkaCompression::Zstd,
        ] {
            let variant = Variant {
                compression,
                ..Variant::PLAIN
            };
            codecs.push(Ingestion::start(cfg, events, variant).await?);
        }
    }
    let mut result = Ok(());
    for round in 0..cfg.rounds {
        if let Some(h) = &mut http {
            result = h.round(cfg, events, round).await;
        }
        if let (Some(b), Ok(())) = (&mut broker, &result) {
            result = b.round(cfg, events, round).await;
        }
        if let (Some(l), Ok(())) = (&mut lean, &result) {
            result = l.round(cfg, events, round).await;
        }
        if let (Some(i), Ok(())) = (&mut ingest, &result) {
            result = i.round(cfg, events, round).await;
        }
        if let (Some(i), Ok(())) = (&mut shared, &result) {
            result = i.round(cfg, events, round).await;
        }
        for i in codecs.iter_mut().chain(over_tls.as_mut()) {
            if result.is_ok() {
                result = i.round(cfg, events, round).await;
            }
        }
        if result.is_err() {
            break;
        }
    }
    let http = match http {
        Some(h) => Some(h.stop().await),
        None => None,
    };
    let lean = match lean {
        Some(l) => Some(l.stop().await),
        None => None,
    };
    let (ingest, extras) = match ingest {
        Some(i) => {
            let (t, x) = i.stop().await;
            (Some(t), Some(x))
        }
        None => (None, None),
    };
    let shared = match shared {
        Some(i) => {
            let (target, x) = i.stop().await;
            println!(
                "shared dedupe: {:.0} claims over the measured rounds, {:.1} keys each, {:.3} ms each (send to verdict); client latency {:.3} ms",
                x.claims,
                x.claim_keys / x.claims.max(1.0),
                x.claim_secs * 1000.0 / x.claims.max(1.0),
                x.client_secs * 1000.0
            );
            Some(target)
        }
        None => None,
    };
    let mut codec_rows = Vec::new();
    for i in codecs {
        codec_rows.push(i.stop().await.0);
    }
    let tls_row = match over_tls {
        Some(i) => Some(i.stop().await.0),
        None => None,
    };
    drop(tls_broker);
    result?;
    let ratios = match (&http, &broker, &ingest) {
        (Some(h), Some(b), Some(i)) => Some(Ratios::of(h, b, i, lean.as_ref())),
        _ => None,
    };
    let mut rows: Vec<Target> = Vec::new();
    rows.extend(http);
    if let Some(b) = broker {
        rows.push(b.b1);
        rows.push(b.b2);
    }
    rows.extend(lean);
    if let Some(plain) = &ingest {
        if let Some(shared) = &shared {
            print_against(plain, shared, "shared dedupe / memory dedupe", 0.8);
        }
        for codec in &codec_rows {
            print_against(
                plain,
                codec,
                &format!("{} / no compression", codec.name),
                0.8,
            );
        }
        if let Some(tls) = &tls_row {
            print_against(plain, tls, "ingestion over TLS / plaintext", 0.8);
        }
    }
    rows.extend(ingest);
    rows.extend(shared);
    rows.extend(codec_rows);
    rows.extend(tls_row);

    if !rows.is_empty() {
        println!();
        println!(
            "{:<28} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}   rounds (events/s)",
            "target", "events/s", "median", "p50 ms", "p99 ms", "max ms", "non-200",
        );
        for t in &rows {
            print_row(t);
        }
        println!(
            "  events/s and latencies of the best of {} rounds; broker rows: latency per produce request,",
            cfg.rounds
        );
        println!("  non-200 = failed produce requests; non-200 counts all rounds");
        println!();
        print_cpu_header(std::thread::available_parallelism().map_or(0, |n| n.get()));
        for t in &rows {
            print_cpu_row(t);
        }
        if cfg.broker_pid.is_none() {
            println!(
                "  broker: no `nisshi` process naming {} on this machine, its CPU is not counted",
                cfg.brokers
            );
        }
        for t in &rows {
            let mut odd: BTreeMap<u16, usize> = BTreeMap::new();
            for m in &t.rounds {
                for (s, n) in m.statuses.iter().filter(|(s, _)| **s != 200) {
                    *odd.entry(*s).or_insert(0) += n;
                }
            }
            if !odd.is_empty() {
                println!("  {}: statuses {:?} (0 = transport error)", t.name, odd);
            }
        }
    }
    if let Some(x) = &extras {
        println!();
        println!("ingestion settings: {}", x.settings);
        let mean = if x.batches > 0.0 {
            x.batch_records / x.batches
        } else {
            0.0
        };
        println!(
            "switchboard_produce_batch_records over the measured rounds: count {:.0}, sum {:.0}, mean {:.2} records per produce request",
            x.batches, x.batch_records, mean
        );
        println!(
            "switchboard_router_intake_events over the measured rounds: {:.0} messages from the HTTP workers to the router, mean {:.2} events per message",
            x.intake_messages,
            x.intake_events / x.intake_messages.max(1.0)
        );
        println!(
            "latency: mean {:.3} ms per request at the client, of which {:.3} ms from the router accepting the record to the broker's answer: {:.3} ms in the partition's queue + {:.3} ms per produce request",
            x.client_secs * 1000.0,
            x.produce_secs * 1000.0 / x.produced.max(1.0),
            (x.produce_secs - x.request_secs * x.batch_records / x.batches.max(1.0)) * 1000.0 / x.produced.max(1.0),
            x.request_secs * 1000.0 / x.batches.max(1.0)
        );
        let acks: Vec<String> = x.acks.iter().map(|(k, v)| format!("{k}={v:.0}")).collect();
        println!(
            "acknowledgements to the sandbox during the measured rounds: {}",
            if acks.is_empty() {
                "none".into()
            } else {
                acks.join(" ")
            }
        );
    }
    let result = ratios.map(|r| {
        r.print();
        (r.best, r.median)
    });
    Ok(result)
}

/// A variant of ingestion against plain ingestion (memory dedupe, no compression): best
/// rounds, and round `k` against round `k`.
fn print_against(plain: &Target, variant: &Target, what: &str, aim: f64) {
    let mut per_round: Vec<f64> = variant
        .rounds
        .iter()
        .zip(&plain.rounds)
        .map(|(s, m)| s.events_per_sec() / m.events_per_sec().max(1e-9))
        .collect();
    per_round.sort_by(f64::total_cmp);
    println!();
    println!(
        "{what}: {:.0} / {:.0} events/s = {:.2} (best rounds); round by round {} (median {:.2}); aim >= {aim:.2}",
        variant.best_rate(),
        plain.best_rate(),
        variant.best_rate() / plain.best_rate().max(1e-9),
        per_round
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(" "),
        median_of_sorted(&per_round)
    );
}

/// Ingestion against the lower ceiling, from the best rounds and round by round.
struct Ratios {
    http_best: f64,
    broker_best: f64,
    ingest_best: f64,
    /// `ingest_best / min(http_best, broker_best)`.
    best: f64,
    /// The lower ceiling of the best rounds: `"http"` or `"broker"`.
    which: &'static str,
    /// Round `k` of ingestion against the lower of round `k` of the two ceilings (the broker
    /// ceiling of a round is the better of B1 and B2), sorted.
    per_round: Vec<f64>,
    /// The median of `per_round`.
    median: f64,
    /// The lean pipeline's best round against the lower ceiling, and ingestion's against
    /// it (when it ran).
    lean: Option<(f64, f64)>,
}

impl Ratios {
    fn of(http: &Target, broker: &BrokerCeiling, ingest: &Target, lean: Option<&Target>) -> Self {
        let broker_best = broker.b1.best_rate().max(broker.b2.best_rate());
        let (http_best, ingest_best) = (http.best_rate(), ingest.best_rate());
        let (lower, which) = if http_best <= broker_best {
            (http_best, "http")
        } else {
            (broker_best, "broker")
        };
        let mut per_round: Vec<f64> = ingest
            .rounds
            .iter()
            .zip(&http.rounds)
            .zip(broker.b1.rounds.iter().zip(&broker.b2.rounds))
            .map(|((i, h), (b1, b2))| {
                let ceiling = h
                    .events_per_sec()
                    .min(b1.events_per_sec().max(b2.events_per_sec()));
                i.events_per_sec() / ceiling.max(1e-9)
            })
            .collect();
        per_round.sort_by(f64::total_cmp);
        let median = median_of_sorted(&per_round);
        let lean = lean.map(|l| {
            let best = l.best_rate();
            (best / lower.max(1e-9), ingest_best / best.max(1e-9))
        });
        Ratios {
            lean,
            http_best,
            broker_best,
            ingest_best,
            best: ingest_best / lower.max(1e-9),
            which,
            per_round,
            median,
        }
    }

    fn print(&self) {
        println!();
        println!(
            "broker ceiling = max(B1, B2) = {:.0} events/s; http ceiling = {:.0} events/s (best rounds)",
            self.broker_best, self.http_best
        );
        println!(
            "ratio ingestion / lower ceiling ({}) = {:.2} from the best rounds (target >= 0.50)",
            self.which, self.best
        );
        let rounds: Vec<String> = self.per_round.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "ratio round by round (each ingestion round / the lower ceiling of the same round): median {:.2}; sorted {}",
            self.median,
            rounds.join(", ")
        );
        println!(
            "ratio ingestion / http ceiling = {:.2}, ingestion / broker ceiling = {:.2} (best rounds)",
            self.ingest_best / self.http_best.max(1e-9),
            self.ingest_best / self.broker_best.max(1e-9)
        );
        if let Some((lean, ingest)) = self.lean {
            println!(
                "lean pipeline (C) / lower ceiling = {lean:.2}; ingestion / lean pipeline = {ingest:.2} (best rounds)"
            );
        }
    }
}
