//! Where a round's CPU went (Linux `/proc`): the load generator's thread, the rest of this
//! process (the server under test: the bare actix server or the service; for the broker
//! rows, the bench's rskafka client), the broker's process when it runs on this machine, and
//! PostgreSQL's processes (server and backends) when it runs here (the state store of
//! `BENCH_STATE_URL`: shared dedupe's claims and confirms).
//!
//! All of them share the machine's cores, so a target's throughput is bounded by its CPU per
//! event: `cores / (load + server + broker + store)` events per second once every core is
//! busy.

use std::collections::HashMap;

use std::time::Instant;

use crate::common::procfs::{proc_cpu_secs, processes_named};

/// CPU seconds read at one instant.
#[derive(Clone)]
pub(crate) struct CpuSnapshot {
    at: Instant,
    /// The calling thread (the load generator's), when it is one.
    thread: Option<f64>,
    process: f64,
    broker: Option<f64>,
    /// Each PostgreSQL process's CPU seconds.
    store: HashMap<u32, f64>,
}

/// CPU seconds spent between two snapshots, and the wall time between them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CpuSplit {
    /// The load generator's thread (`None` when the caller was not a load generator).
    pub(crate) load: Option<f64>,
    /// The rest of this process.
    pub(crate) server: f64,
    /// The broker's process (`None` when it was not found on this machine).
    pub(crate) broker: Option<f64>,
    /// PostgreSQL's processes (`None` when none runs on this machine); a backend started
    /// within the span counts whole.
    pub(crate) store: Option<f64>,
    pub(crate) wall: f64,
}

impl CpuSnapshot {
    /// Reads this process, the broker's (`broker_pid`) and, when `load_thread`, the calling
    /// thread.
    pub(crate) fn take(load_thread: bool, broker_pid: Option<u32>) -> Self {
        CpuSnapshot {
            at: Instant::now(),
            thread: load_thread.then(|| proc_cpu_secs("thread-self")).flatten(),
            process: proc_cpu_secs("self").unwrap_or(0.0),
            broker: broker_pid.and_then(proc_cpu_secs),
            store: processes_named("postgres")
                .into_iter()
                .filter_map(|pid| Some((pid, proc_cpu_secs(pid)?)))
                .collect(),
        }
    }

    /// What was spent since `before`.
    pub(crate) fn since(&self, before: &CpuSnapshot) -> CpuSplit {
        let load = match (self.thread, before.thread) {
            (Some(a), Some(b)) => Some(a - b),
            _ => None,
        };
        CpuSplit {
            load,
            server: self.process - before.process - load.unwrap_or(0.0),
            broker: match (self.broker, before.broker) {
                (Some(a), Some(b)) => Some(a - b),
                _ => None,
            },
            store: (!self.store.is_empty()).then(|| {
                self.store
                    .iter()
                    .map(|(pid, secs)| secs - before.store.get(pid).copied().unwrap_or(0.0))
                    .sum()
            }),
            wall: self.at.duration_since(before.at).as_secs_f64(),
        }
    }
}

impl CpuSplit {
    /// Cores kept busy on average: all CPU seconds counted over the wall time.
    pub(crate) fn cores_busy(&self) -> f64 {
        self.total() / self.wall.max(1e-9)
    }

    /// Every CPU second counted.
    pub(crate) fn total(&self) -> f64 {
        self.load.unwrap_or(0.0)
            + self.server
            + self.broker.unwrap_or(0.0)
            + self.store.unwrap_or(0.0)
    }
}
