//! What one run does, from the environment.

use anyhow::{ensure, Context as _};

/// What one run does, from the environment.
pub(crate) struct BenchConfig {
    pub(crate) records: u64,
    pub(crate) chunk: u64,
    pub(crate) rounds: usize,
    pub(crate) streams: usize,
    pub(crate) idle_clients: usize,
    pub(crate) brokers: String,
}

/// Reads a positive count from the environment, `default` when unset.
pub(crate) fn env_count(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => {
            let n: u64 = v.trim().parse().with_context(|| format!("{name}={v:?}"))?;
            ensure!(n > 0, "{name} must be at least 1");
            Ok(n)
        }
        _ => Ok(default),
    }
}

impl BenchConfig {
    pub(crate) fn from_env() -> anyhow::Result<Self> {
        let cfg = BenchConfig {
            records: env_count("BENCH_RECORDS", 200_000)?,
            chunk: env_count("BENCH_CHUNK", 1000)?,
            rounds: env_count("BENCH_ROUNDS", 5)? as usize,
            streams: env_count("BENCH_STREAMS", 20)? as usize,
            idle_clients: env_count("BENCH_IDLE_CLIENTS", 100)? as usize,
            brokers: std::env::var("SWITCHBOARD_BENCH_BROKERS")
                .unwrap_or_else(|_| "127.0.0.1:9092".into()),
        };
        ensure!(cfg.chunk <= 10_000, "BENCH_CHUNK must be within 1..=10000");
        ensure!(
            cfg.records >= cfg.streams as u64,
            "BENCH_RECORDS must be at least BENCH_STREAMS"
        );
        Ok(cfg)
    }

    /// Records of the small report (each concurrent stream's share).
    pub(crate) fn small(&self) -> u64 {
        self.records / self.streams as u64
    }
}
