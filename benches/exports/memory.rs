//! The memory phase: a fresh service's RSS idle and with idle slow clients.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::future::join_all;

use crate::config::BenchConfig;
use crate::process::Process;
use crate::stream::{idle_client, run_stream, Spec};
use crate::{Conn, REPORT, RSS_INTERVAL, RSS_SAMPLES, STREAM_TIMEOUT, WARMUP_REPORT};

/// Kernel memory of all TCP sockets (`/proc/net/sockstat`, `TCP: ... mem <pages>`), KiB:
/// where bytes written to a slow client's socket wait (not part of any RSS; machine-wide).
pub(crate) fn tcp_socket_kib() -> u64 {
    let text = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let pages = text
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            let at = fields.iter().position(|f| *f == "mem")?;
            fields.get(at + 1)?.parse::<u64>().ok()
        })
        .unwrap_or(0);
    pages * 4
}

/// What the memory phase saw (KiB unless named otherwise).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) idle_rss: u64,
    pub(crate) idle_hwm: u64,
    pub(crate) peak_rss: u64,
    pub(crate) peak_hwm: u64,
    pub(crate) after_rss: u64,
    pub(crate) idle_tcp: u64,
    pub(crate) peak_tcp: u64,
    /// Time until every idle client had its first chunk.
    pub(crate) connected: Duration,
}

/// The memory phase on a fresh service: a one-chunk warm-up export, the idle figures, then
/// the idle slow clients, sampled, then closed.
pub(crate) async fn idle_memory(cfg: &BenchConfig, service: &Process) -> anyhow::Result<Memory> {
    let svc = service.base_url.as_str();
    let warmup = Spec {
        report: WARMUP_REPORT,
        expected: cfg.chunk,
        chunk: cfg.chunk,
        compression: "none",
        ack_window: 0,
        verify: true,
    };
    run_stream(svc, warmup).await?;
    actix_rt::time::sleep(Duration::from_millis(500)).await;
    let mut m = Memory::default();
    (m.idle_rss, m.idle_hwm) = service.rss_kib();
    m.idle_tcp = tcp_socket_kib();
    let t = Instant::now();
    let clients = join_all((0..cfg.idle_clients).map(|_| idle_client(svc, REPORT, cfg.chunk)));
    let clients = actix_rt::time::timeout(STREAM_TIMEOUT, clients)
        .await
        .context("idle clients did not get their first chunk")?
        .into_iter()
        .collect::<anyhow::Result<Vec<Conn>>>()?;
    m.connected = t.elapsed();
    for _ in 0..RSS_SAMPLES {
        actix_rt::time::sleep(RSS_INTERVAL).await;
        let (rss, hwm) = service.rss_kib();
        m.peak_rss = m.peak_rss.max(rss);
        m.peak_hwm = m.peak_hwm.max(hwm);
        m.peak_tcp = m.peak_tcp.max(tcp_socket_kib());
    }
    drop(clients);
    actix_rt::time::sleep(Duration::from_secs(1)).await;
    m.after_rss = service.rss_kib().0;
    Ok(m)
}
