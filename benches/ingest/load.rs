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
use crate::WARMUP;

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

/// Measures round `round` of an HTTP target at `url` into `target` (the warm-up events go
/// first in round 0, not counted).
///
/// Errors: the load generator's thread failed.
pub(crate) async fn measure_round(
    target: &mut Target,
    url: &str,
    cfg: &BenchConfig,
    events: &Arc<Vec<Event>>,
    round: usize,
) -> anyhow::Result<()> {
    let warmup = if round == 0 { 0..WARMUP } else { 0..0 };
    let m = generate_load(
        &target.name,
        url.to_string(),
        events.clone(),
        warmup,
        cfg.round(round),
        cfg.concurrency,
        cfg.broker_pid,
    )
    .await?;
    target.rounds.push(m);
    Ok(())
}
