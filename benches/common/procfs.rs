//! Readings from `/proc` (Linux only): CPU seconds and `/proc/<pid>/status` sizes.

use std::fmt::Display;

/// Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK` on Linux).
pub const CLK_TCK: f64 = 100.0;

/// `key:   value kB` of a `/proc/<pid>/status` text.
pub fn status_kib(status: &str, key: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

/// `key:   value kB` of `/proc/<pid>/status`.
pub fn proc_status_kib(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kib(&status, key)
}

/// User + system CPU seconds of `/proc/<pid>/stat` (`pid` may be `self`).
pub fn proc_cpu_secs(pid: impl Display) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "pid (comm) " start at field 3; utime and stime are fields 14 and 15.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / CLK_TCK)
}
