//! The two ceilings: a bare actix-web server (A) and direct rskafka produce (B1, B2).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use futures::stream::{self, StreamExt};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

use crate::config::BenchConfig;
use crate::cpu::CpuSnapshot;
use crate::events::Event;
use crate::load::ServedTarget;
use crate::stats::{Measured, Target};
use crate::{BENCH_CLIENT_ID, PRODUCE_TIMEOUT, WARMUP, WEBHOOK_PATH};

/// Baseline A: a bare actix-web server with the service's worker count, answering 200 to
/// every POST, bound to a free port and running until [`ServedTarget::stop`].
///
/// Errors: the server cannot bind.
pub(crate) fn http_ceiling(cfg: &BenchConfig) -> anyhow::Result<ServedTarget> {
    async fn ok(body: web::Bytes) -> HttpResponse {
        std::hint::black_box(body.len());
        HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ok"}"#)
    }
    let server = HttpServer::new(|| App::new().route(WEBHOOK_PATH, web::post().to(ok)))
        .workers(cfg.workers)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .context("binding the bare actix server")?;
    ServedTarget::run(
        "http ceiling (bare actix)",
        &server.addrs(),
        server.run(),
        None,
    )
}

/// A fresh rskafka client for the bench.
pub(crate) async fn kafka_client(brokers: &str) -> anyhow::Result<Client> {
    tokio::time::timeout(
        Duration::from_secs(10),
        ClientBuilder::new(vec![brokers.to_string()])
            .client_id(BENCH_CLIENT_ID)
            .build(),
    )
    .await
    .with_context(|| {
        format!("broker {brokers}: no answer within 10 s (is one running? scripts/broker.sh start 9092)")
    })?
    .with_context(|| format!("broker {brokers}: cannot connect"))
}

/// Prefix of every topic the benches create (`common::service` and `fresh_topic` callers).
pub(crate) const BENCH_TOPIC_PREFIX: &str = "sbbench-";

/// Deletes every topic whose name starts with [`BENCH_TOPIC_PREFIX`], so that a concurrency
/// does not run on a broker holding the records of the ones before it: a memory store costs
/// more CPU per produce request the more it holds (tansu 0.6, measured here: ~125–140 µs on a
/// fresh broker, ~190 µs after the broker ceiling's 200 000 records). Returns how many were
/// deleted.
///
/// Errors: the broker does not answer, or refuses a deletion.
pub(crate) async fn drop_bench_topics(brokers: &str) -> anyhow::Result<usize> {
    let client = kafka_client(brokers).await?;
    let topics = client.list_topics().await.context("listing topics")?;
    let controller = client.controller_client().context("controller client")?;
    let mut deleted = 0;
    for t in topics
        .iter()
        .filter(|t| t.name.starts_with(BENCH_TOPIC_PREFIX))
    {
        controller
            .delete_topic(t.name.clone(), 5000)
            .await
            .with_context(|| format!("deleting topic {}", t.name))?;
        deleted += 1;
    }
    Ok(deleted)
}

/// Creates a fresh topic with `partitions` partitions and opens a client for each.
pub(crate) async fn fresh_topic(
    client: &Client,
    prefix: &str,
    partitions: i32,
) -> anyhow::Result<(String, Vec<Arc<PartitionClient>>)> {
    let name = format!("{prefix}-{}", uuid::Uuid::new_v4().simple());
    client
        .controller_client()
        .context("controller client")?
        .create_topic(name.clone(), partitions, 1, 5000)
        .await
        .with_context(|| format!("creating topic {name}"))?;
    let mut out = Vec::new();
    for p in 0..partitions {
        let pc = tokio::time::timeout(
            Duration::from_secs(10),
            client.partition_client(name.clone(), p, UnknownTopicHandling::Retry),
        )
        .await
        .with_context(|| format!("partition client {name}/{p}: no answer within 10 s"))?
        .with_context(|| format!("partition client {name}/{p}"))?;
        out.push(Arc::new(pc));
    }
    Ok((name, out))
}

/// Produces one request with a deadline; the number of records acknowledged.
pub(crate) async fn produce(pc: &PartitionClient, records: Vec<Record>) -> Result<usize, String> {
    match tokio::time::timeout(
        PRODUCE_TIMEOUT,
        pc.produce(records, Compression::NoCompression),
    )
    .await
    {
        Ok(Ok(offsets)) => Ok(offsets.len()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timeout".into()),
    }
}

/// Runs produce requests (partition, records) with `concurrency` in flight.
pub(crate) async fn produce_all(
    name: &str,
    partitions: &[Arc<PartitionClient>],
    requests: Vec<(i32, Vec<Record>)>,
    concurrency: usize,
    broker_pid: Option<u32>,
) -> Measured {
    let before = CpuSnapshot::take(false, broker_pid);
    let results: Vec<(Result<usize, String>, Duration)> = stream::iter(requests)
        .map(|(p, records)| {
            let pc = partitions[p as usize % partitions.len()].clone();
            async move {
                let t = Instant::now();
                let r = produce(&pc, records).await;
                (r, t.elapsed())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let cpu = CpuSnapshot::take(false, broker_pid).since(&before);
    let mut first_error = None;
    let mut ok_events = 0;
    let mut failed = 0;
    let mut latencies = Vec::with_capacity(results.len());
    for (r, latency) in results {
        latencies.push(latency);
        match r {
            Ok(n) => ok_events += n,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("{name}: {failed} produce requests failed, first: {e}");
    }
    Measured {
        ok_events,
        failed,
        wall: Duration::from_secs_f64(cpu.wall),
        produce_requests: Some(latencies.len() as f64),
        latencies,
        statuses: BTreeMap::new(),
        note: String::new(),
        cpu,
    }
}

/// Baseline B: direct rskafka produce of the same records, one record per request (B1) and
/// `BENCH_B2_BATCH` per request (B2), each round to a fresh 3-partition topic that is deleted
/// after it: the broker holds no more of the ceiling's records when ingestion's round comes
/// (a memory store costs more per request the more it holds).
pub(crate) struct BrokerCeiling {
    client: Client,
    pub(crate) b1: Target,
    pub(crate) b2: Target,
}

impl BrokerCeiling {
    /// Connects.
    pub(crate) async fn start(cfg: &BenchConfig) -> anyhow::Result<Self> {
        Ok(BrokerCeiling {
            client: kafka_client(&cfg.brokers).await?,
            b1: Target::new("broker ceiling B1 (1/req)"),
            b2: Target::new(&format!("broker ceiling B2 ({}/req)", cfg.b2_batch)),
        })
    }

    /// Measures round `round` of B1, then of B2, on a fresh topic warmed up with the warm-up
    /// events (connections, metadata, the broker's first segments; not counted).
    pub(crate) async fn round(
        &mut self,
        cfg: &BenchConfig,
        events: &[Event],
        round: usize,
    ) -> anyhow::Result<()> {
        let (topic, partitions) = fresh_topic(&self.client, "sbbench-ceiling", 3).await?;
        let warm: Vec<_> = events[..WARMUP]
            .iter()
            .map(|e| (e.partition, vec![e.record()]))
            .collect();
        produce_all("warm-up", &partitions, warm, cfg.concurrency, None).await;
        let (one, batched) = broker_round(cfg, &partitions, &events[cfg.round(round)]).await;
        self.b1.rounds.push(one);
        self.b2.rounds.push(batched);
        drop(partitions);
        self.client
            .controller_client()
            .context("controller client")?
            .delete_topic(topic.clone(), 5000)
            .await
            .with_context(|| format!("deleting topic {topic}"))
    }
}

/// One round of B1 then B2 over `measured`.
pub(crate) async fn broker_round(
    cfg: &BenchConfig,
    partitions: &[Arc<PartitionClient>],
    measured: &[Event],
) -> (Measured, Measured) {
    let singles: Vec<_> = measured
        .iter()
        .map(|e| (e.partition, vec![e.record()]))
        .collect();
    let b1 = produce_all(
        "broker ceiling B1",
        partitions,
        singles,
        cfg.concurrency,
        cfg.broker_pid,
    )
    .await;

    let mut by_partition: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    for e in measured {
        by_partition
            .entry(e.partition)
            .or_default()
            .push(e.record());
    }
    let mut batches = Vec::new();
    for (p, records) in by_partition {
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            batches.push((p, records.by_ref().take(cfg.b2_batch).collect::<Vec<_>>()));
        }
    }
    let tasks = (cfg.concurrency / 4).max(1);
    let b2 = produce_all(
        "broker ceiling B2",
        partitions,
        batches,
        tasks,
        cfg.broker_pid,
    )
    .await;
    (b1, b2)
}
