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
use crate::load::generate_load;
use crate::stats::{Measured, Target};
use crate::{BENCH_CLIENT_ID, PRODUCE_TIMEOUT, WARMUP, WEBHOOK_PATH, WORKERS};

/// Baseline A: a bare actix-web server with the service's worker count.
pub(crate) async fn http_ceiling(
    cfg: &BenchConfig,
    events: &Arc<Vec<Event>>,
) -> anyhow::Result<Target> {
    async fn ok(body: web::Bytes) -> HttpResponse {
        std::hint::black_box(body.len());
        HttpResponse::Ok()
            .content_type("application/json")
            .body(r#"{"status":"ok"}"#)
    }
    let server = HttpServer::new(|| App::new().route(WEBHOOK_PATH, web::post().to(ok)))
        .workers(WORKERS)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .context("binding the bare actix server")?;
    let port = server
        .addrs()
        .first()
        .map(|a| a.port())
        .context("no bound address")?;
    let server = server.run();
    let handle = server.handle();
    let task = actix_rt::spawn(server);
    let mut target = Target::new("http ceiling (bare actix)");
    let mut result = Ok(());
    for round in 0..cfg.rounds {
        let warmup = if round == 0 { 0..WARMUP } else { 0..0 };
        match generate_load(
            &target.name,
            format!("http://127.0.0.1:{port}{WEBHOOK_PATH}"),
            events.clone(),
            warmup,
            cfg.round(round),
            cfg.concurrency,
            cfg.broker_pid,
        )
        .await
        {
            Ok(m) => target.rounds.push(m),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    handle.stop(false).await;
    let _ = task.await;
    result.map(|()| target)
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

/// Baseline B: direct rskafka produce of the same records to a fresh 3-partition topic.
pub(crate) async fn broker_ceiling(
    cfg: &BenchConfig,
    events: &[Event],
) -> anyhow::Result<(Target, Target)> {
    let client = kafka_client(&cfg.brokers).await?;
    let (_, partitions) = fresh_topic(&client, "sbbench-ceiling", 3).await?;

    // Warm-up: connections, metadata, the broker's first segments.
    let warm: Vec<_> = events[..WARMUP]
        .iter()
        .map(|e| (e.partition, vec![e.record()]))
        .collect();
    produce_all("warm-up", &partitions, warm, cfg.concurrency, None).await;

    let mut b1 = Target::new("broker ceiling B1 (1/req)");
    let mut b2 = Target::new(&format!("broker ceiling B2 ({}/req)", cfg.b2_batch));
    for round in 0..cfg.rounds {
        let measured = &events[cfg.round(round)];
        let (one, batched) = broker_round(cfg, &partitions, measured).await;
        b1.rounds.push(one);
        b2.rounds.push(batched);
    }
    Ok((b1, b2))
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
