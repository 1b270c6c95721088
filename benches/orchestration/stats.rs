//! Small statistics of the bench's samples, and the machine's load.

use std::time::Duration;

use crate::common::stats::nearest_rank;

/// Median and friends of integer samples (ms).
pub(crate) struct Stats {
    pub(crate) p50: i64,
    pub(crate) p90: i64,
    pub(crate) max: i64,
    pub(crate) mean: f64,
}

impl Stats {
    pub(crate) fn of(mut v: Vec<i64>) -> Stats {
        v.sort_unstable();
        let at = |p: f64| nearest_rank(&v, p).unwrap_or(0);
        Stats {
            p50: at(50.0),
            p90: at(90.0),
            max: v.last().copied().unwrap_or(0),
            mean: v.iter().sum::<i64>() as f64 / v.len().max(1) as f64,
        }
    }

    pub(crate) fn line(&self, what: &str) -> String {
        format!(
            "    {what:<44} mean {:>6.2}  p50 {:>4}  p90 {:>4}  max {:>5}",
            self.mean, self.p50, self.p90, self.max
        )
    }
}

pub(crate) fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}
