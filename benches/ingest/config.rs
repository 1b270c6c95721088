//! What one run does, from the environment (see the table in the bench's docs).

use std::ops::Range;
use std::str::FromStr;

use switchboard_actors::settings::KafkaSettings;

use crate::common::procfs::find_process;
use crate::{WARMUP, WORKERS};

/// What one run does, from the environment.
#[derive(Clone)]
pub(crate) struct BenchConfig {
    pub(crate) brokers: String,
    pub(crate) events: usize,
    pub(crate) rounds: usize,
    /// Requests in flight of the target being measured.
    pub(crate) concurrency: usize,
    /// Every concurrency to measure the targets at, in order.
    pub(crate) concurrencies: Vec<usize>,
    pub(crate) linger_ms: Option<u64>,
    pub(crate) max_in_flight: Option<usize>,
    pub(crate) max_batch_bytes: Option<usize>,
    pub(crate) max_batch_records: Option<usize>,
    pub(crate) ack_rpm: u32,
    /// HTTP workers of the service and of the bare actix server (the same for both).
    pub(crate) workers: usize,
    pub(crate) payload_bytes: usize,
    pub(crate) b2_batch: usize,
    pub(crate) trap_requests: usize,
    pub(crate) targets: Vec<String>,
    /// The broker's process on this machine (a `nisshi` whose command line names the
    /// broker's address), for its CPU time; `None` when not found.
    pub(crate) broker_pid: Option<u32>,
}

/// Reads `name`, or `default` when unset; a value that does not parse is an error.
pub(crate) fn env_or<T: FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    Ok(env_opt(name)?.unwrap_or(default))
}

/// Reads `name` when set; a value that does not parse is an error.
pub(crate) fn env_opt<T: FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name}={v:?} does not parse")),
        _ => Ok(None),
    }
}

impl BenchConfig {
    /// Reads the environment (see the table above).
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let targets: String = env_or(
            "BENCH_TARGETS",
            "parse,trap,http,broker,lean,ingest,shared".to_string(),
        )?;
        let brokers: String = env_or("SWITCHBOARD_BENCH_BROKERS", "127.0.0.1:9092".to_string())?;
        let broker_pid = find_process("nisshi", &brokers);
        let concurrencies: String = env_or("BENCH_CONCURRENCY", "64,256".to_string())?;
        let concurrencies = concurrencies
            .split(',')
            .map(|c| {
                c.trim().parse::<usize>().map(|c| c.max(1)).map_err(|_| {
                    anyhow::anyhow!("BENCH_CONCURRENCY={concurrencies:?} does not parse")
                })
            })
            .collect::<anyhow::Result<Vec<usize>>>()?;
        Ok(BenchConfig {
            brokers,
            events: env_or("BENCH_EVENTS", 20_000usize)?.max(1),
            rounds: env_or("BENCH_ROUNDS", 5usize)?.max(1),
            concurrency: concurrencies[0],
            concurrencies,
            linger_ms: env_opt("BENCH_LINGER_MS")?,
            max_in_flight: env_opt("BENCH_MAX_IN_FLIGHT")?,
            max_batch_bytes: env_opt("BENCH_MAX_BATCH_BYTES")?,
            max_batch_records: env_opt("BENCH_MAX_BATCH_RECORDS")?,
            ack_rpm: env_or("BENCH_ACK_RPM", 100u32)?.max(1),
            workers: env_or("BENCH_WORKERS", WORKERS)?.max(1),
            payload_bytes: env_or("BENCH_PAYLOAD_BYTES", 260usize)?,
            b2_batch: env_or("BENCH_B2_BATCH", 20usize)?.max(1),
            trap_requests: env_or("BENCH_TRAP_REQUESTS", 30usize)?.max(1),
            targets: targets
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect(),
            broker_pid,
        })
    }

    /// Sets the batching keys the environment overrides (`BENCH_LINGER_MS`,
    /// `BENCH_MAX_IN_FLIGHT`, `BENCH_MAX_BATCH_BYTES`, `BENCH_MAX_BATCH_RECORDS`).
    pub(crate) fn apply_batching(&self, kafka: &mut KafkaSettings) {
        if let Some(v) = self.linger_ms {
            kafka.linger_ms = v;
        }
        if let Some(v) = self.max_in_flight {
            kafka.max_in_flight = v;
        }
        if let Some(v) = self.max_batch_bytes {
            kafka.max_batch_bytes = v;
        }
        if let Some(v) = self.max_batch_records {
            kafka.max_batch_records = v;
        }
    }

    /// Whether `BENCH_TARGETS` names `target` (or `all`).
    pub(crate) fn runs(&self, target: &str) -> bool {
        self.targets.iter().any(|t| t == target || t == "all")
    }

    /// The events of measured round `round` (after the warm-up events).
    pub(crate) fn round(&self, round: usize) -> Range<usize> {
        WARMUP + round * self.events..WARMUP + (round + 1) * self.events
    }
}
