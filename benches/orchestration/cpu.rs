//! CPU time by thread from `/proc` (Linux only), and how long each waited for a core.

use std::collections::{HashMap, HashSet};

use crate::common::procfs::{stat_ticks, CLK_TCK};

/// CPU ticks of this process (exited threads included), and of each live thread by tid with
/// the nanoseconds it waited on a run queue (`/proc/.../schedstat`: runnable, no core free).
pub(crate) struct Cpu {
    pub(crate) process: u64,
    pub(crate) threads: HashMap<u32, (u64, u64)>,
}

/// Where a run's CPU went, in ms.
pub(crate) struct CpuUse {
    /// Main thread (actors), service threads, sandbox threads, exited threads (the bench's
    /// poller), other live threads.
    pub(crate) cpu: [f64; 5],
    /// Run-queue wait of the main thread, the service threads and the sandbox threads.
    pub(crate) wait: [f64; 3],
}

impl Cpu {
    pub(crate) fn now() -> Cpu {
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|t| stat_ticks(&t))
            .unwrap_or(0);
        let threads = std::fs::read_dir("/proc/self/task")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let tid: u32 = e.file_name().to_str()?.parse().ok()?;
                let text = std::fs::read_to_string(e.path().join("stat")).ok()?;
                let wait = std::fs::read_to_string(e.path().join("schedstat"))
                    .ok()
                    .and_then(|t| t.split_whitespace().nth(1)?.parse().ok())
                    .unwrap_or(0);
                Some((tid, (stat_ticks(&text)?, wait)))
            })
            .collect();
        Cpu { process, threads }
    }

    pub(crate) fn tids() -> HashSet<u32> {
        Cpu::now().threads.into_keys().collect()
    }

    /// CPU used since `before`, by thread group: the bench's main thread, the service's
    /// threads (`service`), the sandbox's (`sandbox`), the rest of the process, other threads.
    pub(crate) fn since(
        &self,
        before: &Cpu,
        service: &HashSet<u32>,
        sandbox: &HashSet<u32>,
    ) -> CpuUse {
        let main = std::process::id();
        let (mut cpu, mut wait) = ([0.0; 5], [0.0; 3]);
        let mut live = 0;
        for (tid, (ticks, waited)) in &self.threads {
            let (t0, w0) = before.threads.get(tid).copied().unwrap_or((0, 0));
            let d = ticks.saturating_sub(t0);
            live += d;
            let slot = if *tid == main {
                0
            } else if service.contains(tid) {
                1
            } else if sandbox.contains(tid) {
                2
            } else {
                4
            };
            cpu[slot] += d as f64 * 1e3 / CLK_TCK;
            if slot < 3 {
                wait[slot] += waited.saturating_sub(w0) as f64 / 1e6;
            }
        }
        cpu[3] = self.process.saturating_sub(before.process + live) as f64 * 1e3 / CLK_TCK;
        CpuUse { cpu, wait }
    }
}
