//! Ingestion benchmark: how many Data Action webhooks per second switchboard turns into
//! broker-acknowledged Kafka records, next to the two ceilings it cannot beat.
//!
//! Run with a broker listening (`scripts/broker.sh start 9092`):
//!
//! ```text
//! cargo bench --bench ingest
//! ```
//!
//! One run measures, with the same pre-serialised seed-004 events and the same load generator
//! (awc on its own thread, `BENCH_CONCURRENCY` requests in flight), each target
//! `BENCH_ROUNDS` times back to back on fresh events, and reports the best round (the one
//! least disturbed by the rest of the machine) and the median:
//!
//! 1. the TCP_NODELAY trap: sequential rskafka produce requests of growing size, to show where
//!    requests wait ~40 ms for a delayed ACK and that `kafka.max_batch_bytes` stays below it;
//! 2. the HTTP ceiling: a bare actix-web server (2 workers) answering 200 to every POST;
//! 3. the broker ceiling: rskafka produce of the same records, one per request (B1) and in
//!    batches (B2), at the same concurrency;
//! 4. ingestion: the real service (sandbox + `Application::build`, 2 workers) on
//!    `POST /webhook/cxone/data-actions`, answering 200 only after the broker acknowledged.
//!
//! Environment (all optional):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `SWITCHBOARD_BENCH_BROKERS` | `127.0.0.1:9092` | broker to use |
//! | `BENCH_EVENTS` | 20000 | measured events per round and target (plus 500 warm-up) |
//! | `BENCH_ROUNDS` | 5 | measured rounds per target |
//! | `BENCH_CONCURRENCY` | 64 | requests in flight |
//! | `BENCH_LINGER_MS` | config | the service's `kafka.linger_ms` |
//! | `BENCH_MAX_IN_FLIGHT` | config | the service's `kafka.max_in_flight` |
//! | `BENCH_MAX_BATCH_BYTES` | config | the service's `kafka.max_batch_bytes` |
//! | `BENCH_MAX_BATCH_RECORDS` | config | the service's `kafka.max_batch_records` |
//! | `BENCH_ACK_RPM` | 100 | client rate limit of acknowledgements per minute: the tenant default (`cxone.requests_per_minute`), as in production, where acknowledgements are bounded by the tenant's limit far below ingestion; 60000 makes the in-process sandbox answer ~1000 acknowledgements/s on the same 2 cores |
//! | `BENCH_PAYLOAD_BYTES` | 260 | size of an event's compact `payload` JSON |
//! | `BENCH_B2_BATCH` | 20 | records per produce request in baseline B2 |
//! | `BENCH_TRAP_REQUESTS` | 30 | sequential requests per size in the trap sweep |
//! | `BENCH_TARGETS` | `trap,http,broker,ingest` | which parts to run |
//! | `RUST_LOG` | `error` | log filter (with `warn`, every acknowledgement dropped once `routing.ack_queue_capacity` is full logs a line) |
//!
//! Nothing is asserted: the bench prints figures and ratios. Without `--bench` (as under
//! `cargo test --all-targets`) it does nothing.

use std::collections::BTreeMap;
use std::ops::Range;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use actix_web::{web, App, HttpResponse, HttpServer};
use anyhow::Context as _;
use futures::stream::{self, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use serde_json::json;
use switchboard::config::Settings;
use switchboard::sandbox::{Sandbox, SandboxOptions};
use switchboard::startup::{Application, BuildOptions};

/// Requests (or records) sent before a target's first measured round, not counted.
const WARMUP: usize = 500;
/// The ingestion route.
const WEBHOOK_PATH: &str = "/webhook/cxone/data-actions";
/// HTTP workers of the service and of the bare actix server.
const WORKERS: usize = 2;
/// Longest wait for one produce request in the broker baselines.
const PRODUCE_TIMEOUT: Duration = Duration::from_secs(10);
/// Client id of the bench's own rskafka client.
const BENCH_CLIENT_ID: &str = "switchboard-bench";
/// A mean above this (ms) marks a trapped request size.
const TRAP_MS: f64 = 10.0;
/// Filler text for the `notes` field.
const LOREM: &str = "Customer asked for a callback about the invoice; agent promised a follow-up \
                     within two business days and logged the case for the billing team to review. ";

/// What one run does, from the environment.
struct BenchConfig {
    brokers: String,
    events: usize,
    rounds: usize,
    concurrency: usize,
    linger_ms: Option<u64>,
    max_in_flight: Option<usize>,
    max_batch_bytes: Option<usize>,
    max_batch_records: Option<usize>,
    ack_rpm: u32,
    payload_bytes: usize,
    b2_batch: usize,
    trap_requests: usize,
    targets: Vec<String>,
}

/// Reads `name`, or `default` when unset; a value that does not parse is an error.
fn env_or<T: FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    Ok(env_opt(name)?.unwrap_or(default))
}

/// Reads `name` when set; a value that does not parse is an error.
fn env_opt<T: FromStr>(name: &str) -> anyhow::Result<Option<T>> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name}={v:?} does not parse")),
        _ => Ok(None),
    }
}

impl BenchConfig {
    /// Reads the environment (see the table above).
    fn from_env() -> anyhow::Result<Self> {
        let targets: String = env_or("BENCH_TARGETS", "trap,http,broker,ingest".to_string())?;
        Ok(BenchConfig {
            brokers: env_or("SWITCHBOARD_BENCH_BROKERS", "127.0.0.1:9092".to_string())?,
            events: env_or("BENCH_EVENTS", 20_000usize)?.max(1),
            rounds: env_or("BENCH_ROUNDS", 5usize)?.max(1),
            concurrency: env_or("BENCH_CONCURRENCY", 64usize)?.max(1),
            linger_ms: env_opt("BENCH_LINGER_MS")?,
            max_in_flight: env_opt("BENCH_MAX_IN_FLIGHT")?,
            max_batch_bytes: env_opt("BENCH_MAX_BATCH_BYTES")?,
            max_batch_records: env_opt("BENCH_MAX_BATCH_RECORDS")?,
            ack_rpm: env_or("BENCH_ACK_RPM", 100u32)?.max(1),
            payload_bytes: env_or("BENCH_PAYLOAD_BYTES", 260usize)?,
            b2_batch: env_or("BENCH_B2_BATCH", 20usize)?.max(1),
            trap_requests: env_or("BENCH_TRAP_REQUESTS", 30usize)?.max(1),
            targets: targets
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect(),
        })
    }

    /// Whether `BENCH_TARGETS` names `target` (or `all`).
    fn runs(&self, target: &str) -> bool {
        self.targets.iter().any(|t| t == target || t == "all")
    }

    /// The events of measured round `round` (after the warm-up events).
    fn round(&self, round: usize) -> Range<usize> {
        WARMUP + round * self.events..WARMUP + (round + 1) * self.events
    }
}

/// One seed-004 event, serialised once.
struct Event {
    /// `dataActionId`: the record key.
    id: String,
    /// A unique `webhook-id` header.
    webhook_id: String,
    /// `timestamp`: a record header.
    timestamp: String,
    /// The payload serialised compactly: the record value.
    payload: String,
    /// The request body.
    body: Bytes,
    /// The partition the seed rules send it to (high → 0, eu-west → 1, else 2).
    partition: i32,
}

impl Event {
    /// The record the router would produce for this event.
    fn record(&self) -> Record {
        Record {
            key: Some(self.id.clone().into_bytes()),
            value: Some(self.payload.clone().into_bytes()),
            headers: BTreeMap::from([
                ("eventType".to_string(), b"data_action.executed".to_vec()),
                ("timestamp".to_string(), self.timestamp.clone().into_bytes()),
            ]),
            timestamp: chrono::Utc::now(),
        }
    }
}

/// `count` events: 20 % `"priority":"high"`, 30 % `"region":"eu-west"`, a compact payload of
/// about `payload_bytes` bytes. Deterministic apart from the ids.
fn generate_events(count: usize, payload_bytes: usize) -> anyhow::Result<Vec<Event>> {
    const SKILLS: [&str; 5] = ["billing", "support", "sales", "retention", "onboarding"];
    const REGIONS: [&str; 3] = ["us-east", "ap-south", "sa-east"];
    const CHANNELS: [&str; 4] = ["voice", "chat", "email", "sms"];
    let mut rng = StdRng::seed_from_u64(4);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let id = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let priority = if rng.random_bool(0.2) {
            "high"
        } else {
            "normal"
        };
        let region = if rng.random_bool(0.3) {
            "eu-west"
        } else {
            REGIONS[rng.random_range(0..REGIONS.len())]
        };
        let mut payload = json!({
            "priority": priority,
            "region": region,
            "contactId": format!("c-{:08}", rng.random_range(0..100_000_000u32)),
            "skill": SKILLS[rng.random_range(0..SKILLS.len())],
            "channel": CHANNELS[rng.random_range(0..CHANNELS.len())],
            "agentId": format!("a-{:05}", rng.random_range(0..100_000u32)),
            "attempt": rng.random_range(1..4u32),
            "sequence": i,
            "notes": "",
        });
        let bare = serde_json::to_string(&payload)?.len();
        let notes: String = LOREM
            .chars()
            .cycle()
            .take(payload_bytes.saturating_sub(bare))
            .collect();
        payload["notes"] = json!(notes);
        let compact = serde_json::to_string(&payload)?;
        let partition = if priority == "high" {
            0
        } else if region == "eu-west" {
            1
        } else {
            2
        };
        let body = serde_json::to_vec(&json!({
            "dataActionId": id,
            "eventType": "data_action.executed",
            "timestamp": timestamp,
            "payload": payload,
        }))?;
        out.push(Event {
            id,
            webhook_id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
            timestamp,
            payload: compact,
            body: Bytes::from(body),
            partition,
        });
    }
    Ok(out)
}

/// What one measured target did.
struct Measured {
    /// Events answered 200 (HTTP) or acknowledged by the broker.
    ok_events: usize,
    /// Requests not answered 200 / produce requests that failed.
    failed: usize,
    wall: Duration,
    /// Per request (HTTP request or produce request).
    latencies: Vec<Duration>,
    /// HTTP status counts (0 = transport error); empty for the broker.
    statuses: BTreeMap<u16, usize>,
    /// Extra figures of the round (ingestion: mean batch size).
    note: String,
}

impl Measured {
    /// Events answered 200 (or acknowledged) per second of wall time.
    fn events_per_sec(&self) -> f64 {
        self.ok_events as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// A latency percentile in milliseconds.
    fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies, p)
    }
}

/// The rounds of one target.
struct Target {
    name: String,
    rounds: Vec<Measured>,
}

impl Target {
    /// A target without rounds yet.
    fn new(name: &str) -> Self {
        Target {
            name: name.to_string(),
            rounds: Vec::new(),
        }
    }

    /// The round with the most events per second.
    fn best(&self) -> Option<&Measured> {
        self.rounds
            .iter()
            .max_by(|a, b| a.events_per_sec().total_cmp(&b.events_per_sec()))
    }

    /// Events per second of the best round.
    fn best_rate(&self) -> f64 {
        self.best().map_or(0.0, Measured::events_per_sec)
    }

    /// The median events per second over the rounds.
    fn median_rate(&self) -> f64 {
        let mut rates: Vec<f64> = self.rounds.iter().map(Measured::events_per_sec).collect();
        rates.sort_by(f64::total_cmp);
        match rates.len() {
            0 => 0.0,
            n if n % 2 == 1 => rates[n / 2],
            n => (rates[n / 2 - 1] + rates[n / 2]) / 2.0,
        }
    }

    /// Failed requests over all rounds.
    fn failed(&self) -> usize {
        self.rounds.iter().map(|m| m.failed).sum()
    }
}

/// The `p` percentile (0–100) of `samples` in milliseconds (nearest rank); 0 when empty.
fn percentile_ms(samples: &[Duration], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1].as_secs_f64() * 1e3
}

/// The mean of `samples` in milliseconds; 0 when empty.
fn mean_ms(samples: &[Duration]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / samples.len() as f64
}

/// One HTTP request's outcome: status (0 = transport error) and latency.
struct Sample {
    status: u16,
    latency: Duration,
}

/// POSTs every event to `url` with `concurrency` requests in flight.
async fn fire(
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
async fn generate_load(
    name: &str,
    url: String,
    events: Arc<Vec<Event>>,
    warmup: Range<usize>,
    measured: Range<usize>,
    concurrency: usize,
) -> anyhow::Result<Measured> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("bench-load".into())
        .spawn(move || {
            let result = actix_rt::System::new().block_on(async move {
                let client = awc::Client::builder()
                    .connector(awc::Connector::new().limit(concurrency))
                    .timeout(Duration::from_secs(30))
                    .disable_redirects()
                    .finish();
                fire(&client, &url, &events[warmup], concurrency).await;
                let started = Instant::now();
                let samples = fire(&client, &url, &events[measured], concurrency).await;
                (samples, started.elapsed())
            });
            let _ = tx.send(result);
        })
        .context("spawning the load generator thread")?;
    let (samples, wall) = rx
        .await
        .with_context(|| format!("{name}: the load generator thread died"))?;
    let mut statuses = BTreeMap::new();
    for s in &samples {
        *statuses.entry(s.status).or_insert(0usize) += 1;
    }
    let ok = statuses.get(&200).copied().unwrap_or(0);
    Ok(Measured {
        ok_events: ok,
        failed: samples.len() - ok,
        wall,
        latencies: samples.into_iter().map(|s| s.latency).collect(),
        statuses,
        note: String::new(),
    })
}

/// Baseline A: a bare actix-web server with the service's worker count.
async fn http_ceiling(cfg: &BenchConfig, events: &Arc<Vec<Event>>) -> anyhow::Result<Target> {
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
async fn kafka_client(brokers: &str) -> anyhow::Result<Client> {
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
async fn fresh_topic(
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
async fn produce(pc: &PartitionClient, records: Vec<Record>) -> Result<usize, String> {
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
async fn produce_all(
    name: &str,
    partitions: &[Arc<PartitionClient>],
    requests: Vec<(i32, Vec<Record>)>,
    concurrency: usize,
) -> Measured {
    let started = Instant::now();
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
    let wall = started.elapsed();
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
        wall,
        latencies,
        statuses: BTreeMap::new(),
        note: String::new(),
    }
}

/// Baseline B: direct rskafka produce of the same records to a fresh 3-partition topic.
async fn broker_ceiling(cfg: &BenchConfig, events: &[Event]) -> anyhow::Result<(Target, Target)> {
    let client = kafka_client(&cfg.brokers).await?;
    let (_, partitions) = fresh_topic(&client, "sbbench-ceiling", 3).await?;

    // Warm-up: connections, metadata, the broker's first segments.
    let warm: Vec<_> = events[..WARMUP]
        .iter()
        .map(|e| (e.partition, vec![e.record()]))
        .collect();
    produce_all("warm-up", &partitions, warm, cfg.concurrency).await;

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
async fn broker_round(
    cfg: &BenchConfig,
    partitions: &[Arc<PartitionClient>],
    measured: &[Event],
) -> (Measured, Measured) {
    let singles: Vec<_> = measured
        .iter()
        .map(|e| (e.partition, vec![e.record()]))
        .collect();
    let b1 = produce_all("broker ceiling B1", partitions, singles, cfg.concurrency).await;

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
    let b2 = produce_all("broker ceiling B2", partitions, batches, tasks).await;
    (b1, b2)
}

/// The ingestion run's extra figures.
struct IngestExtras {
    /// Produce requests and records in them during the measured rounds (from `/metrics`).
    batches: f64,
    batch_records: f64,
    /// Acknowledgements sent to the sandbox during the measured rounds, by outcome.
    acks: BTreeMap<String, f64>,
    /// The batching settings in force.
    settings: String,
}

/// Reads a metric's value (summed over label sets) from Prometheus text.
fn metric_sum(text: &str, name: &str) -> f64 {
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
fn ack_counts(text: &str) -> BTreeMap<String, f64> {
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

/// `GET /metrics` of the service.
async fn get_metrics(client: &awc::Client, base: &str) -> anyhow::Result<String> {
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

/// The real service: sandbox + `Application::build`, measured on the webhook route.
async fn ingestion(
    cfg: &BenchConfig,
    events: &Arc<Vec<Event>>,
) -> anyhow::Result<(Target, IngestExtras)> {
    let sandbox = Sandbox::start(SandboxOptions {
        bind: "127.0.0.1:0".into(),
        rate_limit_per_minute: cfg.ack_rpm,
        ..SandboxOptions::default()
    })
    .await
    .context("starting the sandbox")?;
    let dir = std::env::temp_dir().join(format!(
        "switchboard-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let rules = format!(
        "[[rules]]\npattern = '\"priority\"\\s*:\\s*\"high\"'\ntopic = \"sbbench-{id}-high\"\npartition = 0\n\
         [[rules]]\npattern = '\"region\"\\s*:\\s*\"eu-west\"'\ntopic = \"sbbench-{id}-eu\"\npartition = 1\n\
         [[rules]]\npattern = '.*'\ntopic = \"sbbench-{id}-default\"\npartition = 2\n"
    );
    let rules_file = dir.join("routes.toml");
    std::fs::write(&rules_file, rules).context("writing the rules file")?;

    let mut s = Settings::load(None).context("loading the default settings")?;
    s.server.bind = "127.0.0.1:0".into();
    s.server.workers = WORKERS;
    s.kafka.brokers = vec![cfg.brokers.clone()];
    s.routing.rules_file = rules_file.display().to_string();
    s.audit.path = dir.join("audit.jsonl").display().to_string();
    s.cxone.base_url = sandbox.base_url();
    s.cxone.requests_per_minute = cfg.ack_rpm;
    s.cxone.burst = 1000;
    s.cxone.backoff_initial_ms = 50;
    s.cxone.backoff_max_ms = 2000;
    if let Some(v) = cfg.linger_ms {
        s.kafka.linger_ms = v;
    }
    if let Some(v) = cfg.max_in_flight {
        s.kafka.max_in_flight = v;
    }
    if let Some(v) = cfg.max_batch_bytes {
        s.kafka.max_batch_bytes = v;
    }
    if let Some(v) = cfg.max_batch_records {
        s.kafka.max_batch_records = v;
    }
    let settings = format!(
        "linger_ms={} max_in_flight={} max_batch_bytes={} max_batch_records={} workers={} ack_rpm={}",
        s.kafka.linger_ms,
        s.kafka.max_in_flight,
        s.kafka.max_batch_bytes,
        s.kafka.max_batch_records,
        s.server.workers,
        s.cxone.requests_per_minute
    );

    let app = Application::build(s, BuildOptions::default())
        .await
        .context("building the service")?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    let task = actix_rt::spawn(app.run_until_stopped());

    // Warm up (routed for real, not counted), then measure the rounds, reading the metrics
    // around each.
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let url = format!("{base}{WEBHOOK_PATH}");
    let warm = generate_load(
        "warm-up",
        url.clone(),
        events.clone(),
        0..0,
        0..WARMUP,
        cfg.concurrency,
    )
    .await?;
    if warm.failed > 0 {
        eprintln!("ingestion warm-up: statuses {:?}", warm.statuses);
    }
    let mut target = Target::new("ingestion (switchboard)");
    let mut extras = IngestExtras {
        batches: 0.0,
        batch_records: 0.0,
        acks: BTreeMap::new(),
        settings,
    };
    let mut before = get_metrics(&client, &base).await?;
    for round in 0..cfg.rounds {
        let mut m = generate_load(
            &target.name,
            url.clone(),
            events.clone(),
            0..0,
            cfg.round(round),
            cfg.concurrency,
        )
        .await?;
        let after = get_metrics(&client, &base).await?;
        let delta = |name: &str| metric_sum(&after, name) - metric_sum(&before, name);
        let (batches, records) = (
            delta("switchboard_produce_batch_records_count"),
            delta("switchboard_produce_batch_records_sum"),
        );
        m.note = format!("{:.1} rec/batch", records / batches.max(1.0));
        extras.batches += batches;
        extras.batch_records += records;
        let (acks_before, acks_after) = (ack_counts(&before), ack_counts(&after));
        for (k, v) in acks_after {
            *extras.acks.entry(k.clone()).or_insert(0.0) +=
                v - acks_before.get(&k).copied().unwrap_or(0.0);
        }
        target.rounds.push(m);
        before = after;
    }

    handle.stop(false).await;
    let _ = task.await;
    let _ = std::fs::remove_dir_all(&dir);
    // Dropped, the sandbox serves until the process ends: acknowledgements still queued
    // are not failed with connection errors meanwhile.
    drop(sandbox);
    Ok((target, extras))
}

/// Zigzag varint length of `v` (Kafka record fields).
fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// The encoded size of a produce request carrying `records` (record batch v2, no
/// compression), its 4-byte length prefix excluded: an estimate within a few bytes.
fn request_bytes(records: &[Record], topic: &str, client_id: &str) -> usize {
    let mut batch = 61; // record batch header
    for (i, r) in records.iter().enumerate() {
        let key = r.key.as_ref().map_or(0, Vec::len);
        let value = r.value.as_ref().map_or(0, Vec::len);
        let mut body = 1 + 1 + varint_len(i as i64); // attributes, timestamp delta, offset delta
        body += varint_len(key as i64) + key + varint_len(value as i64) + value;
        body += varint_len(r.headers.len() as i64);
        for (k, v) in &r.headers {
            body += varint_len(k.len() as i64) + k.len() + varint_len(v.len() as i64) + v.len();
        }
        batch += varint_len(body as i64) + body;
    }
    // header: api key, version, correlation id, client id; body: transactional id, acks,
    // timeout, topics array, topic name, partitions array, partition index, records length.
    2 + 2 + 4 + 2 + client_id.len() + 2 + 2 + 4 + 4 + 2 + topic.len() + 4 + 4 + 4 + batch
}

/// One row of the trap sweep.
struct TrapRow {
    records: usize,
    approx_bytes: usize,
    request_bytes: usize,
    mean_ms: f64,
    p50_ms: f64,
    max_ms: f64,
}

/// Sequential produce requests (one in flight) of growing size.
async fn trap_sweep(
    cfg: &BenchConfig,
    events: &[Event],
    router_records: usize,
) -> anyhow::Result<Vec<TrapRow>> {
    let client = kafka_client(&cfg.brokers).await?;
    let (topic, partitions) = fresh_topic(&client, "sbbench-trap", 1).await?;
    let pc = &partitions[0];
    // The brief's sizes, the router's largest batch, and the sizes either side of 8 KiB and
    // 64 KiB requests (length prefix included), where the trap should begin and end.
    let mut sizes = vec![10, 15, 20, 25, 50, 100, 200, 400, router_records];
    for limit in [8 * 1024, 64 * 1024] {
        let sample: Vec<Record> = (0..400)
            .map(|i| events[i % events.len()].record())
            .collect();
        if let Some(n) = (1..=sample.len())
            .find(|&n| 4 + request_bytes(&sample[..n], &topic, BENCH_CLIENT_ID) > limit)
        {
            sizes.extend([n - 1, n]);
        }
    }
    sizes.sort_unstable();
    sizes.dedup();
    let mut rows = Vec::new();
    let mut next = 0usize;
    for n in sizes {
        let mut take = || {
            let batch: Vec<Record> = (0..n)
                .map(|i| events[(next + i) % events.len()].record())
                .collect();
            next += n;
            batch
        };
        let first = take();
        let approx_bytes = first.iter().map(Record::approximate_size).sum();
        let request_bytes = request_bytes(&first, &topic, BENCH_CLIENT_ID);
        // Two unmeasured requests first.
        produce(pc, first)
            .await
            .map_err(|e| anyhow::anyhow!("trap sweep produce: {e}"))?;
        produce(pc, take())
            .await
            .map_err(|e| anyhow::anyhow!("trap sweep produce: {e}"))?;
        let mut samples = Vec::with_capacity(cfg.trap_requests);
        for _ in 0..cfg.trap_requests {
            let batch = take();
            let t = Instant::now();
            produce(pc, batch)
                .await
                .map_err(|e| anyhow::anyhow!("trap sweep produce: {e}"))?;
            samples.push(t.elapsed());
        }
        rows.push(TrapRow {
            records: n,
            approx_bytes,
            request_bytes,
            mean_ms: mean_ms(&samples),
            p50_ms: percentile_ms(&samples, 50.0),
            max_ms: percentile_ms(&samples, 100.0),
        });
    }
    Ok(rows)
}

/// One line of the results table: the best round's figures and every round's rate.
fn print_row(t: &Target) {
    let Some(m) = t.best() else { return };
    let rounds: Vec<String> = t
        .rounds
        .iter()
        .map(|r| {
            if r.note.is_empty() {
                format!("{:.0}", r.events_per_sec())
            } else {
                format!("{:.0} ({})", r.events_per_sec(), r.note)
            }
        })
        .collect();
    println!(
        "{:<28} {:>9.0} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8}   {}",
        t.name,
        t.best_rate(),
        t.median_rate(),
        m.percentile_ms(50.0),
        m.percentile_ms(99.0),
        m.percentile_ms(100.0),
        t.failed(),
        rounds.join(", ")
    );
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs this binary without it,
    // and a test run must not need a broker or take a minute.
    if !std::env::args().any(|a| a == "--bench") {
        println!("ingest: skipped (run it with `cargo bench --bench ingest`)");
        return Ok(());
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("error")).init();
    let cfg = BenchConfig::from_env()?;
    let defaults = Settings::load(None).context("loading the default settings")?;
    let events = Arc::new(generate_events(
        WARMUP + cfg.rounds * cfg.events,
        cfg.payload_bytes,
    )?);

    let sample = &events[0];
    let record_size = sample.record().approximate_size();
    let max_batch_bytes = cfg
        .max_batch_bytes
        .unwrap_or(defaults.kafka.max_batch_bytes);
    let router_records = (max_batch_bytes / record_size.max(1)).clamp(
        1,
        cfg.max_batch_records
            .unwrap_or(defaults.kafka.max_batch_records)
            .max(1),
    );
    let share = |p: i32| {
        events.iter().filter(|e| e.partition == p).count() as f64 * 100.0 / events.len() as f64
    };
    println!("switchboard ingest bench");
    println!(
        "  broker {}  events {} per round (+{WARMUP} warm-up)  rounds {}  concurrency {}  cores {}",
        cfg.brokers,
        cfg.events,
        cfg.rounds,
        cfg.concurrency,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "  event body {} B, payload {} B, record ~{} B (key+value+headers); routes high {:.0}% / eu {:.0}% / default {:.0}%",
        sample.body.len(),
        sample.payload.len(),
        record_size,
        share(0),
        share(1),
        share(2)
    );

    if cfg.runs("trap") {
        println!();
        println!(
            "TCP_NODELAY trap: sequential produce requests (1 in flight), {} per size",
            cfg.trap_requests
        );
        println!(
            "{:>8} {:>12} {:>12} {:>9} {:>9} {:>9}",
            "records", "record B", "≈request B", "mean ms", "p50 ms", "max ms"
        );
        let rows = trap_sweep(&cfg, &events, router_records).await?;
        for r in &rows {
            let mark = if r.mean_ms > TRAP_MS {
                "  <- trapped"
            } else {
                ""
            };
            let router = if r.records == router_records {
                "  (router max batch)"
            } else {
                ""
            };
            println!(
                "{:>8} {:>12} {:>12} {:>9.2} {:>9.2} {:>9.2}{mark}{router}",
                r.records, r.approx_bytes, r.request_bytes, r.mean_ms, r.p50_ms, r.max_ms
            );
        }
        let fast_below = rows
            .iter()
            .take_while(|r| r.mean_ms <= TRAP_MS)
            .last()
            .map(|r| r.request_bytes);
        let trapped_from = rows
            .iter()
            .find(|r| r.mean_ms > TRAP_MS)
            .map(|r| r.request_bytes);
        match (fast_below, trapped_from) {
            (Some(fast), Some(slow)) => {
                println!("  the trap starts between ≈{fast} B and ≈{slow} B per request")
            }
            (None, Some(slow)) => println!("  even the smallest request (≈{slow} B) is trapped"),
            (_, None) => println!("  no size was trapped (mean ≤ {TRAP_MS} ms everywhere)"),
        }
        let last_trapped = rows.iter().rposition(|r| r.mean_ms > TRAP_MS);
        if let Some(i) = last_trapped {
            if let Some(after) = rows.get(i + 1) {
                println!(
                    "  and ends between ≈{} B and ≈{} B per request",
                    rows[i].request_bytes, after.request_bytes
                );
            }
        }
        let router_row = rows.iter().find(|r| r.records == router_records);
        if let Some(r) = router_row {
            println!(
                "  kafka.max_batch_bytes = {max_batch_bytes}: at most {} of these records, ≈{} B per request, {:.2} ms mean -> {}",
                r.records,
                r.request_bytes,
                r.mean_ms,
                if r.mean_ms > TRAP_MS { "TRAPPED" } else { "below the trap" }
            );
        }
    }

    let mut rows: Vec<Target> = Vec::new();
    let mut http = None;
    let mut broker = None;
    let mut ingest = None;
    if cfg.runs("http") {
        let t = http_ceiling(&cfg, &events).await?;
        http = Some((t.best_rate(), t.median_rate()));
        rows.push(t);
    }
    if cfg.runs("broker") {
        let (b1, b2) = broker_ceiling(&cfg, &events).await?;
        broker = Some((
            b1.best_rate().max(b2.best_rate()),
            b1.median_rate().max(b2.median_rate()),
        ));
        rows.push(b1);
        rows.push(b2);
    }
    let mut extras = None;
    if cfg.runs("ingest") {
        let (t, x) = ingestion(&cfg, &events).await?;
        ingest = Some((t.best_rate(), t.median_rate()));
        rows.push(t);
        extras = Some(x);
    }

    if !rows.is_empty() {
        println!();
        println!(
            "{:<28} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}   rounds (events/s)",
            "target", "events/s", "median", "p50 ms", "p99 ms", "max ms", "non-200",
        );
        for t in &rows {
            print_row(t);
        }
        println!(
            "  events/s and latencies of the best of {} rounds; broker rows: latency per produce request,",
            cfg.rounds
        );
        println!("  non-200 = failed produce requests; non-200 counts all rounds");
        for t in &rows {
            let mut odd: BTreeMap<u16, usize> = BTreeMap::new();
            for m in &t.rounds {
                for (s, n) in m.statuses.iter().filter(|(s, _)| **s != 200) {
                    *odd.entry(*s).or_insert(0) += n;
                }
            }
            if !odd.is_empty() {
                println!("  {}: statuses {:?} (0 = transport error)", t.name, odd);
            }
        }
    }
    if let Some(x) = &extras {
        println!();
        println!("ingestion settings: {}", x.settings);
        let mean = if x.batches > 0.0 {
            x.batch_records / x.batches
        } else {
            0.0
        };
        println!(
            "switchboard_produce_batch_records over the measured rounds: count {:.0}, sum {:.0}, mean {:.2} records per produce request",
            x.batches, x.batch_records, mean
        );
        let acks: Vec<String> = x.acks.iter().map(|(k, v)| format!("{k}={v:.0}")).collect();
        println!(
            "acknowledgements to the sandbox during the measured rounds: {}",
            if acks.is_empty() {
                "none".into()
            } else {
                acks.join(" ")
            }
        );
    }
    if let (Some(i), Some(h), Some(b)) = (ingest, http, broker) {
        let ratio = |i: f64, h: f64, b: f64| {
            let (lower, which) = if h <= b { (h, "http") } else { (b, "broker") };
            (i / lower.max(1e-9), which)
        };
        let (best, which) = ratio(i.0, h.0, b.0);
        let (median, _) = ratio(i.1, h.1, b.1);
        println!();
        println!(
            "broker ceiling = max(B1, B2) = {:.0} events/s; http ceiling = {:.0} events/s (best rounds)",
            b.0, h.0
        );
        println!("ratio ingestion / lower ceiling ({which}) = {best:.2} (target >= 0.50); from medians {median:.2}");
        println!(
            "ratio ingestion / http ceiling = {:.2}, ingestion / broker ceiling = {:.2}",
            i.0 / h.0.max(1e-9),
            i.0 / b.0.max(1e-9)
        );
    }
    Ok(())
}
