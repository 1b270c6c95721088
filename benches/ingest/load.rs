//! The load generator: POSTs events with a fixed number of requests in flight, on its own
//! thread and actix system.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::stream::{self, StreamExt};

use crate::common::on_thread;
use crate::config::BenchConfig;
use crate::cpu::CpuSnapshot;
use crate::events::Event;
use crate::stats::{Measured, Target};
use crate::{WARMUP, WEBHOOK_PATH};

/// One HTTP request's outcome: status (0 = transport error) and latency.
pub(crate) struct Sample {
    pub(crate) status: u16,
    pub(crate) latency: Duration,
}

/// POSTs every event to `url` with `concurrency` requests in flight.
pub(crate) async fn fire(
    client: &awc::Client,
    url: &str,
    events: &[Event],
    concurrency: usize,
) -> Vec<Sample> {
    stream::iter(events)
        .map(|ev| async move {
            let started = Instant::now();
            let sent = client
                .post(url)
                .insert_header(("content-type", "application/json"))
                .insert_header(("webhook-id", ev.webhook_id.as_str()))
                .send_body(ev.body.clone())
                .await;
            let status = match sent {
                Ok(mut resp) => {
                    let status = resp.status().as_u16();
                    match resp.body().limit(1 << 20).await {
                        Ok(_) => status,
                        Err(_) => 0,
                    }
                }
                Err(_) => 0,
            };
            Sample {
                status,
                latency: started.elapsed(),
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await
}

/// The load generator: on its own thread and actix system (the same way for every target),
/// `warmup` events first (not counted), then `measured` events timed.
pub(crate) async fn generate_load(
    name: &str,
    url: String,
    events: Arc<Vec<Event>>,
    warmup: Range<usize>,
    measured: Range<usize>,
    concurrency: usize,
    broker_pid: Option<u32>,
) -> anyhow::Result<Measured> {
    // The snapshots are taken on the generator's own thread: `/proc/thread-self` is that thread.
    let (samples, cpu) = on_thread("bench-load", move || async move {
        let client = awc::Client::builder()
            .connector(awc::Connector::new().limit(concurrency))
            .timeout(Duration::from_secs(30))
            .disable_redirects()
            .finish();
        fire(&client, &url, &events[warmup], concurrency).await;
        let before = CpuSnapshot::take(true, broker_pid);
        let samples = fire(&client, &url, &events[measured], concurrency).await;
        let cpu = CpuSnapshot::take(true, broker_pid).since(&before);
        Ok((samples, cpu))
    })
    .await
    .with_context(|| format!("{name}: the load generator"))?;
    let mut statuses = BTreeMap::new();
    for s in &samples {
        *statuses.entry(s.status).or_insert(0usize) += 1;
    }
    let ok = statuses.get(&200).copied().unwrap_or(0);
    Ok(Measured {
        ok_events: ok,
        failed: samples.len() - ok,
        wall: Duration::from_secs_f64(cpu.wall),
        latencies: samples.into_iter().map(|s| s.latency).collect(),
        statuses,
        note: String::new(),
        cpu,
        produce_requests: None,
    })
}

/// A server under test (a baseline's) on a free port of 127.0.0.1, measured round by round
/// on the webhook path from [`ServedTarget::run`] to [`ServedTarget::stop`].
pub(crate) struct ServedTarget {
    url: String,
    handle: actix_web::dev::ServerHandle,
    task: actix_rt::task::JoinHandle<std::io::Result<()>>,
    /// A temp dir of the target's, removed when it stops.
    dir: Option<std::path::PathBuf>,
    pub(crate) target: Target,
}

impl ServedTarget {
    /// Runs `server`, bound to `addrs`, as the target `name`.
    ///
    /// Errors: `addrs` is empty.
    pub(crate) fn run(
        name: &str,
        addrs: &[std::net::SocketAddr],
        server: actix_web::dev::Server,
        dir: Option<std::path::PathBuf>,
    ) -> anyhow::Result<Self> {
        let port = addrs
            .first()
            .map(|a| a.port())
            .context("no bound address")?;
        Ok(ServedTarget {
            url: format!("http://127.0.0.1:{port}{WEBHOOK_PATH}"),
            handle: server.handle(),
            task: actix_rt::spawn(server),
            dir,
            target: Target::new(name),
        })
    }

    /// Measures round `round` (the warm-up events go first in round 0, not counted).
    ///
    /// Errors: the load generator's thread failed.
    pub(crate) async fn round(
        &mut self,
        cfg: &BenchConfig,
        events: &Arc<Vec<Event>>,
        round: usize,
    ) -> anyhow::Result<()> {
        let warmup = if round == 0 { 0..WARMUP } else { 0..0 };
        let m = generate_load(
            &self.target.name,
            self.url.clone(),
            events.clone(),
            warmup,
            cfg.round(round),
            cfg.concurrency,
            cfg.broker_pid,
        )
        .await?;
        self.target.rounds.push(m);
        Ok(())
    }

    /// Stops the server (and removes its dir); its rounds.
    pub(crate) async fn stop(self) -> Target {
        self.handle.stop(false).await;
        let _ = self.task.await;
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        self.target
    }
}
