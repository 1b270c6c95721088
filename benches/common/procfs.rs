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

/// User + system CPU clock ticks of a `/proc/.../stat` text.
pub fn stat_ticks(stat: &str) -> Option<u64> {
    // Fields after "pid (comm) " start at field 3; utime and stime are fields 14 and 15.
    let rest: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?)
}

/// User + system CPU seconds of `/proc/<pid>/stat` (`pid` may be `self`, or `thread-self`
/// for the calling thread alone).
pub fn proc_cpu_secs(pid: impl Display) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat_ticks(&stat)? as f64 / CLK_TCK)
}

/// The pids of every process named `comm` (e.g. `postgres`: the server and its backends).
pub fn processes_named(comm: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
            (name.trim_end() == comm).then_some(pid)
        })
        .collect()
}

/// The pid of a process named `comm` whose command line contains `arg` (the first found).
pub fn find_process(comm: &str, arg: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
        if name.trim_end() != comm {
            return None;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(arg)
            .then_some(pid)
    })
}
