//! The real service: sandbox + `Application::build`, measured on the webhook route.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use switchboard_sandbox::{Sandbox, SandboxOptions};

use switchboard_actors::settings::{DedupeMode, KafkaCompression};

/// What an ingestion target changes in the service's settings.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    /// `routing.dedupe`.
    pub(crate) dedupe: DedupeMode,
    /// `kafka.compression`.
    pub(crate) compression: KafkaCompression,
    /// A TLS broker (address, CA file) instead of the bench's broker.
    pub(crate) tls: Option<(String, std::path::PathBuf)>,
}

impl Variant {
    /// The defaults: memory dedupe, no compression, the bench's broker.
    pub(crate) const PLAIN: Variant = Variant {
        dedupe: DedupeMode::Memory,
        compression: KafkaCompression::None,
        tls: None,
    };
}

use crate::common::service::{service_settings, start_app, RunningApp};
use crate::config::BenchConfig;
use crate::events::Event;
use crate::load::generate_load;
use crate::stats::{mean_ms, Target};
use crate::{WARMUP, WEBHOOK_PATH};

/// The ingestion run's extra figures.
pub(crate) struct IngestExtras {
    /// Produce requests and records in them during the measured rounds (from `/metrics`).
    pub(crate) batches: f64,
    pub(crate) batch_records: f64,
    /// Messages from the HTTP workers to the router, and the events in them (from
    /// `switchboard_router_intake_events`).
    pub(crate) intake_messages: f64,
    pub(crate) intake_events: f64,
    /// Seconds from the router accepting a record to the broker's answer, summed, and the
    /// records timed (from `switchboard_produce_seconds`): the part of the latency spent in
    /// the router's queue and the produce request.
    pub(crate) produce_secs: f64,
    pub(crate) produced: f64,
    /// Seconds of produce requests, summed (from `switchboard_produce_request_seconds`).
    pub(crate) request_secs: f64,
    /// Mean client-observed latency of the measured rounds, in seconds.
    pub(crate) client_secs: f64,
    /// Acknowledgements sent to the sandbox during the measured rounds, by outcome.
    pub(crate) acks: BTreeMap<String, f64>,
    /// Claims of the shared dedupe window, their seconds summed, and their keys (from
    /// `switchboard_dedupe_claim_*`; zero with memory dedupe).
    pub(crate) claims: f64,
    pub(crate) claim_secs: f64,
    pub(crate) claim_keys: f64,
    /// The batching settings in force.
    pub(crate) settings: String,
}

/// Reads a metric's value (summed over label sets) from Prometheus text.
pub(crate) fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Acknowledgement counts by outcome from Prometheus text.
pub(crate) fn ack_counts(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("switchboard_acknowledgements_total{"))
    {
        let outcome = line
            .split("outcome=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or("?");
        if let Some(v) = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) {
            *out.entry(outcome.to_string()).or_insert(0.0) += v;
        }
    }
    out
}

/// The state store's backend named by `state.url`: `postgres` or `sqlite`.
fn backend_of(url: &str) -> &'static str {
    if url.starts_with("postgres") {
        "postgres"
    } else {
        "sqlite"
    }
}

/// `GET /metrics` of the service.
pub(crate) async fn get_metrics(client: &awc::Client, base: &str) -> anyhow::Result<String> {
    let mut resp = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GET /metrics: {e}"))?;
    let body = resp
        .body()
        .limit(16 << 20)
        .await
        .map_err(|e| anyhow::anyhow!("GET /metrics body: {e}"))?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The real service: sandbox + `Application::build`, measured on the webhook route, running
/// from [`Ingestion::start`] to [`Ingestion::stop`].
pub(crate) struct Ingestion {
    sandbox: Sandbox,
    dir: std::path::PathBuf,
    app: RunningApp,
    client: awc::Client,
    url: String,
    pub(crate) target: Target,
    pub(crate) extras: IngestExtras,
}

impl Ingestion {
    /// Starts the sandbox and the service (its settings changed by `variant`), and routes the
    /// warm-up events (for real, not counted).
    pub(crate) async fn start(
        cfg: &BenchConfig,
        events: &Arc<Vec<Event>>,
        variant: Variant,
    ) -> anyhow::Result<Self> {
        let sandbox = Sandbox::start(SandboxOptions {
            bind: "127.0.0.1:0".into(),
            rate_limit_per_minute: cfg.ack_rpm,
            ..SandboxOptions::default()
        })
        .await
        .context("starting the sandbox")?;
        let (dir, mut s) = service_settings(&cfg.brokers, sandbox.base_url())?;
        s.server.workers = cfg.workers;
        s.routing.dedupe = variant.dedupe;
        s.kafka.compression = variant.compression;
        if let Some((address, ca_file)) = &variant.tls {
            s.kafka.brokers = vec![address.clone()];
            s.kafka.tls.enabled = true;
            s.kafka.tls.ca_file = ca_file.display().to_string();
        }
        s.cxone.requests_per_minute = cfg.ack_rpm;
        s.cxone.burst = 1000;
        s.cxone.backoff_initial_ms = 50;
        s.cxone.backoff_max_ms = 2000;
        cfg.apply_batching(&mut s.kafka);
        let name = match (variant.dedupe, variant.compression) {
            _ if variant.tls.is_some() => "ingestion, TLS".to_string(),
            (DedupeMode::Memory, KafkaCompression::None) => "ingestion (switchboard)".to_string(),
            (DedupeMode::Memory, codec) => format!("ingestion, {codec}"),
            (DedupeMode::Shared, _) => {
                format!("ingestion, shared dedupe ({})", backend_of(&s.state.url))
            }
        };
        let settings = format!(
            "linger_ms={} max_in_flight={} max_batch_bytes={} max_batch_records={} workers={} ack_rpm={}",
            s.kafka.linger_ms,
            s.kafka.max_in_flight,
            s.kafka.max_batch_bytes,
            s.kafka.max_batch_records,
            s.server.workers,
            s.cxone.requests_per_minute
        );
        let app = start_app(s, "building the service").await?;
        let client = awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish();
        let url = format!("{}{WEBHOOK_PATH}", app.base);
        let warm = generate_load(
            "warm-up",
            url.clone(),
            events.clone(),
            0..0,
            0..WARMUP,
            cfg.concurrency,
            None,
        )
        .await?;
        if warm.failed > 0 {
            eprintln!("ingestion warm-up: statuses {:?}", warm.statuses);
        }
        Ok(Ingestion {
            sandbox,
            dir,
            app,
            client,
            url,
            target: Target::new(&name),
            extras: IngestExtras {
                batches: 0.0,
                batch_records: 0.0,
                intake_messages: 0.0,
                intake_events: 0.0,
                produce_secs: 0.0,
                produced: 0.0,
                request_secs: 0.0,
                client_secs: 0.0,
                acks: BTreeMap::new(),
                claims: 0.0,
                claim_secs: 0.0,
                claim_keys: 0.0,
                settings,
            },
        })
    }

    /// Measures round `round`, with the service's metrics read around it.
    pub(crate) async fn round(
        &mut self,
        cfg: &BenchConfig,
        events: &Arc<Vec<Event>>,
        round: usize,
    ) -> anyhow::Result<()> {
        // The metrics are the process's (every in-process service writes to the same
        // registry): read them right before the round, after the other targets' rounds.
        let before = &get_metrics(&self.client, &self.app.base).await?;
        let mut m = generate_load(
            &self.target.name,
            self.url.clone(),
            events.clone(),
            0..0,
            cfg.round(round),
            cfg.concurrency,
            cfg.broker_pid,
        )
        .await?;
        let after = get_metrics(&self.client, &self.app.base).await?;
        let delta = |name: &str| metric_sum(&after, name) - metric_sum(before, name);
        let (batches, records) = (
            delta("switchboard_produce_batch_records_count"),
            delta("switchboard_produce_batch_records_sum"),
        );
        // Every event answered 200 must have been produced: an event answered from a
        // dedupe window (a `duplicate`) measures no routing.
        anyhow::ensure!(
            records + 0.5 >= m.ok_events as f64,
            "{}: {} events answered 200 but {records} records produced in round {round}: \
             events answered as duplicates measure no routing",
            self.target.name,
            m.ok_events
        );
        m.note = format!("{:.1} rec/batch", records / batches.max(1.0));
        m.produce_requests = Some(batches);
        let x = &mut self.extras;
        x.batches += batches;
        x.batch_records += records;
        x.intake_messages += delta("switchboard_router_intake_events_count");
        x.intake_events += delta("switchboard_router_intake_events_sum");
        x.produce_secs += delta("switchboard_produce_seconds_sum");
        x.produced += delta("switchboard_produce_seconds_count");
        x.request_secs += delta("switchboard_produce_request_seconds_sum");
        x.claims += delta("switchboard_dedupe_claim_seconds_count");
        x.claim_secs += delta("switchboard_dedupe_claim_seconds_sum");
        x.claim_keys += delta("switchboard_dedupe_claim_keys_sum");
        x.client_secs += mean_ms(&m.latencies) / 1e3 / cfg.rounds as f64;
        let (acks_before, acks_after) = (ack_counts(before), ack_counts(&after));
        for (k, v) in &acks_after {
            *x.acks.entry(k.clone()).or_insert(0.0) +=
                v - acks_before.get(k).copied().unwrap_or(0.0);
        }
        self.target.rounds.push(m);
        Ok(())
    }

    /// Stops the service; its rounds and extra figures.
    pub(crate) async fn stop(self) -> (Target, IngestExtras) {
        self.app.handle.stop(false).await;
        let _ = self.app.task.await;
        let _ = std::fs::remove_dir_all(&self.dir);
        // Dropped, the sandbox serves until the process ends: acknowledgements still queued
        // are not failed with connection errors meanwhile.
        drop(self.sandbox);
        (self.target, self.extras)
    }
}
