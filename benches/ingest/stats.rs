//! What a target measured: its rounds, percentiles, and its line of the results table.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::stats::nearest_rank;
use crate::cpu::CpuSplit;

/// What one measured target did.
pub(crate) struct Measured {
    /// Events answered 200 (HTTP) or acknowledged by the broker.
    pub(crate) ok_events: usize,
    /// Requests not answered 200 / produce requests that failed.
    pub(crate) failed: usize,
    pub(crate) wall: Duration,
    /// Per request (HTTP request or produce request).
    pub(crate) latencies: Vec<Duration>,
    /// HTTP status counts (0 = transport error); empty for the broker.
    pub(crate) statuses: BTreeMap<u16, usize>,
    /// Extra figures of the round (ingestion: mean batch size).
    pub(crate) note: String,
    /// Where the round's CPU went.
    pub(crate) cpu: CpuSplit,
    /// Produce requests the broker answered in the round (`None` for the HTTP ceiling).
    pub(crate) produce_requests: Option<f64>,
}

impl Measured {
    /// Events answered 200 (or acknowledged) per second of wall time.
    pub(crate) fn events_per_sec(&self) -> f64 {
        self.ok_events as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// A latency percentile in milliseconds.
    pub(crate) fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies, p)
    }
}

/// The rounds of one target.
pub(crate) struct Target {
    pub(crate) name: String,
    pub(crate) rounds: Vec<Measured>,
}

impl Target {
    /// A target without rounds yet.
    pub(crate) fn new(name: &str) -> Self {
        Target {
            name: name.to_string(),
            rounds: Vec::new(),
        }
    }

    /// The round with the most events per second.
    pub(crate) fn best(&self) -> Option<&Measured> {
        self.rounds
            .iter()
            .max_by(|a, b| a.events_per_sec().total_cmp(&b.events_per_sec()))
    }

    /// Events per second of the best round.
    pub(crate) fn best_rate(&self) -> f64 {
        self.best().map_or(0.0, Measured::events_per_sec)
    }

    /// The median events per second over the rounds.
    pub(crate) fn median_rate(&self) -> f64 {
        let mut rates: Vec<f64> = self.rounds.iter().map(Measured::events_per_sec).collect();
        rates.sort_by(f64::total_cmp);
        median_of_sorted(&rates)
    }

    /// Failed requests over all rounds.
    pub(crate) fn failed(&self) -> usize {
        self.rounds.iter().map(|m| m.failed).sum()
    }
}

/// The median of values sorted ascending (the mean of the middle two for an even count); 0
/// when empty.
pub(crate) fn median_of_sorted(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The `p` percentile (0–100) of `samples` in milliseconds (nearest rank); 0 when empty.
pub(crate) fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    nearest_rank(&sorted, p).unwrap_or_default().as_secs_f64() * 1e3
}

/// The mean of `samples` in milliseconds; 0 when empty.
pub(crate) fn mean_ms(samples: &[Duration]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / samples.len() as f64
}

/// One line of the results table: the best round's figures and every round's rate.
pub(crate) fn print_row(t: &Target) {
    let Some(m) = t.best() else { return };
    let rounds: Vec<String> = t
        .rounds
        .iter()
        .map(|r| {
            if r.note.is_empty() {
                format!("{:.0}", r.events_per_sec())
            } else {
                format!("{:.0} ({})", r.events_per_sec(), r.note)
            }
        })
        .collect();
    println!(
        "{:<28} {:>9.0} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8}   {}",
        t.name,
        t.best_rate(),
        t.median_rate(),
        m.percentile_ms(50.0),
        m.percentile_ms(99.0),
        m.percentile_ms(100.0),
        t.failed(),
        rounds.join(", ")
    );
}

/// The CPU block's header: see [`print_cpu_row`].
pub(crate) fn print_cpu_header(cores: usize) {
    println!(
        "CPU per event in each target's best round, in µs (all share the {cores} cores; a target cannot exceed {cores} s / total events per second; store: PostgreSQL's processes on this machine):"
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11} {:>16}",
        "target", "load gen", "server", "broker", "store", "total", "cores busy", "broker/request"
    );
}

/// One line of the CPU block: the best round's CPU per event by where it went. `server` is
/// the rest of the bench's process: the bare server, the service, or (broker rows) the
/// bench's rskafka client.
pub(crate) fn print_cpu_row(t: &Target) {
    let Some(m) = t.best() else { return };
    let events = m.ok_events.max(1) as f64;
    let us = |secs: Option<f64>| match secs {
        Some(s) => format!("{:.1}", s * 1e6 / events),
        None => "-".to_string(),
    };
    let c = &m.cpu;
    let total = c.total();
    let per_request = match (c.broker, m.produce_requests) {
        (Some(b), Some(n)) if n > 0.0 => format!("{:.0} µs", b * 1e6 / n),
        _ => "-".to_string(),
    };
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>9} {:>11.2} {:>16}",
        t.name,
        us(c.load),
        us(Some(c.server)),
        us(c.broker),
        us(c.store),
        us(Some(total)),
        c.cores_busy(),
        per_request
    );
}
