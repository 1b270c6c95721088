//! What one bench run does, from the environment.

use std::time::Duration;

/// What one bench run does, from the environment.
pub(crate) struct Config {
    pub(crate) brokers: String,
    pub(crate) latency_ms: u64,
    pub(crate) layers: usize,
    pub(crate) width: usize,
    pub(crate) cap: usize,
    pub(crate) runs: usize,
    pub(crate) poll: Duration,
    pub(crate) validation_runs: usize,
}

pub(crate) fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v} is not a valid value")),
        Err(_) => Ok(default),
    }
}

impl Config {
    pub(crate) fn from_env() -> anyhow::Result<Config> {
        Ok(Config {
            brokers: env_or("SWITCHBOARD_BENCH_BROKERS", "127.0.0.1:9092".to_string())?,
            latency_ms: env_or("BENCH_LATENCY_MS", 100)?,
            layers: env_or("BENCH_LAYERS", 10)?,
            width: env_or("BENCH_WIDTH", 100)?,
            cap: env_or("BENCH_CAP", 50)?,
            runs: env_or("BENCH_RUNS", 3)?,
            poll: Duration::from_millis(env_or("BENCH_POLL_MS", 20)?),
            validation_runs: env_or("BENCH_VALIDATION_RUNS", 5)?.max(1),
        })
    }
}
