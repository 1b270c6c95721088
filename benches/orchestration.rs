//! Orchestration benchmark: scheduling overhead of a run and validation time of a large plan.
//! Target (issue): the makespan of a 1 000-node layered DAG with `concurrency_max` 50 and a
//! fixed sandbox latency L stays within 10% of the ideal bound for that DAG, cap and L.
//!
//! Run with a broker listening (`scripts/broker.sh start 9092`; the service needs one to start):
//!
//! ```text
//! cargo bench --bench orchestration
//! BENCH_LATENCY_MS=50 cargo bench --bench orchestration
//! ```
//!
//! 1. Ideal: the DAG (`BENCH_LAYERS` layers of `BENCH_WIDTH` UUID sub-flows, each sub-flow of
//!    layer k>0 depending on 2–3 of layer k−1, fixed seed) is scheduled by the service's own
//!    [`Scheduler`] in a discrete-event simulation where every execution takes exactly L and
//!    nothing else takes time. Printed next to the simple lower bound
//!    max(critical path, ⌈N / cap⌉) × L.
//! 2. Makespan: sandbox + service (`Application::build`, 2 workers, completions by webhook:
//!    `orchestration.poll_after_ms` 60 000), one warm-up run, then `BENCH_RUNS` runs of the
//!    plan, each POSTed to `/orchestrations` and polled every `BENCH_POLL_MS` from a thread of
//!    its own until `settled`. Makespan is measured by the sandbox's clock (first execution's
//!    `started_at_ms` to the last `completed_at_ms`); the report's `wall_clock_ms` is shown
//!    too. Where the overhead goes, per run:
//!    - each hop (an execution ends → the next starts in the slot it freed; a layered plan
//!      this wide always has work ready, so hops are slot-bound) split into stages from the
//!      sandbox's times and the report's `started_at`/`finished_at` (all ms, one clock);
//!    - the ideal recomputed with each sub-flow's execution length as the sandbox measured
//!      it, which takes the sandbox's own timer lateness out of the ratio;
//!    - whether a hop waits behind the rest of its round (first vs last tenth of each round);
//!    - CPU time of the actors' (main) thread, the service's and the sandbox's HTTP threads
//!      and the bench's poller, and how long each waited for a free core (`schedstat`).
//!
//!    Then two probes: `POST /cxone/webhook` one at a time (client built per event, as the
//!    sandbox does, and kept alive), and `GET /orchestrations/{run_id}` of a settled run.
//! 3. Validation: `validate_plan` on a 100 × 100 plan (10 000 sub-flows), median of
//!    `BENCH_VALIDATION_RUNS`, and the same plan made invalid (one unknown dependency, so
//!    nothing runs) through `POST /orchestrations`: the HTTP round trip with validation.
//!
//! Environment (all optional): `SWITCHBOARD_BENCH_BROKERS` (127.0.0.1:9092),
//! `BENCH_LATENCY_MS` (100), `BENCH_LAYERS` (10), `BENCH_WIDTH` (100), `BENCH_CAP` (50),
//! `BENCH_RUNS` (3), `BENCH_POLL_MS` (20), `BENCH_VALIDATION_RUNS` (5), `RUST_LOG` (warn).
//! Checked: each run is `satisfied` and every sub-flow executed exactly once and succeeded.
//! Nothing is asserted against the target. Linux only (`/proc`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::{bail, ensure, Context as _};
use futures::channel::oneshot;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use switchboard::config::Settings;
use switchboard::sandbox::{Sandbox, SandboxOptions};
use switchboard::startup::{Application, BuildOptions};
use switchboard_actors::orchestration::{validate_plan, Plan, Scheduler, SubFlowState};

/// Seed of the DAG's ids and dependencies.
const SEED: u64 = 0x5eed_0000;
/// Rate limits (per minute) of the sandbox and the client, high enough never to throttle.
const UNLIMITED_RPM: u32 = 10_000_000;
/// Client burst, so the first `cap` POSTs never wait for the limiter.
const UNLIMITED_BURST: u32 = 100_000;
/// Completions come by webhook: the first poll would be after this.
const POLL_AFTER_MS: u64 = 60_000;
/// Body limit of the bench's service: a 10 000-node plan is ~2.5 MB (default 1 MiB).
const MAX_BODY_BYTES: usize = 32 << 20;
/// Layers × width of the plan timed for validation (10 000 sub-flows).
const VALIDATION_SHAPE: (usize, usize) = (100, 100);
/// Longest wait for one run to settle.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);
/// Timeout of one HTTP request of the bench.
const HTTP_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer body the bench reads.
const MAX_ANSWER_BYTES: usize = 64 << 20;
/// Target: achieved makespan over the ideal.
const TARGET_RATIO: f64 = 1.10;

/// What one bench run does, from the environment.
struct Config {
    brokers: String,
    latency_ms: u64,
    layers: usize,
    width: usize,
    cap: usize,
    runs: usize,
    poll: Duration,
    validation_runs: usize,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("{name}={v} is not a valid value")),
        Err(_) => Ok(default),
    }
}

impl Config {
    fn from_env() -> anyhow::Result<Config> {
        Ok(Config {
            brokers: env_or("SWITCHBOARD_BENCH_BROKERS", "127.0.0.1:9092".to_string())?,
            latency_ms: env_or("BENCH_LATENCY_MS", 100)?,
            layers: env_or("BENCH_LAYERS", 10)?,
            width: env_or("BENCH_WIDTH", 100)?,
            cap: env_or("BENCH_CAP", 50)?,
            runs: env_or("BENCH_RUNS", 3)?,
            poll: Duration::from_millis(env_or("BENCH_POLL_MS", 20)?),
            validation_runs: env_or("BENCH_VALIDATION_RUNS", 5)?.max(1),
        })
    }
}

/// A layered plan: `layers` × `width` sub-flows, each of layer k>0 depending on 2–3 distinct
/// sub-flows of layer k−1, every execution taking `latency_ms` in the sandbox.
fn layered_plan(layers: usize, width: usize, cap: usize, latency_ms: u64, seed: u64) -> Value {
    let mut rng = StdRng::seed_from_u64(seed);
    let ids: Vec<Vec<String>> = (0..layers)
        .map(|_| {
            (0..width)
                .map(|_| {
                    uuid::Builder::from_random_bytes(rng.random())
                        .into_uuid()
                        .to_string()
                })
                .collect()
        })
        .collect();
    let mut sub_flows = Vec::with_capacity(layers * width);
    for (k, layer) in ids.iter().enumerate() {
        for id in layer {
            let depends_on: Vec<&str> = match k {
                0 => Vec::new(),
                _ => {
                    let n = rng.random_range(2..=3).min(width);
                    rand::seq::index::sample(&mut rng, width, n)
                        .iter()
                        .map(|i| ids[k - 1][i].as_str())
                        .collect()
                }
            };
            sub_flows.push(json!({
                "id": id,
                "depends_on": depends_on,
                "input_data": {"sandbox": {"latency_ms": latency_ms, "outcome": "succeeded"}},
            }));
        }
    }
    json!({"sub_flows": sub_flows, "concurrency_max": cap, "merge_condition": "ALL"})
}

/// Bounds of a plan whose executions all take one tick.
struct Bounds {
    /// Longest dependency chain, in sub-flows.
    critical_path: u64,
    /// ⌈N / cap⌉.
    slot_rounds: u64,
    /// The service's own scheduler with zero overhead, in ticks.
    greedy: u64,
}

/// Critical path, slot rounds, and the [`greedy`] schedule with unit-length executions.
fn bounds(plan: &Plan) -> anyhow::Result<Bounds> {
    let index: HashMap<&str, usize> = plan
        .sub_flows
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    let mut depth: Vec<Option<u64>> = vec![None; plan.sub_flows.len()];
    fn depth_of(
        i: usize,
        plan: &Plan,
        index: &HashMap<&str, usize>,
        memo: &mut [Option<u64>],
    ) -> u64 {
        if let Some(d) = memo[i] {
            return d;
        }
        let d = 1 + plan.sub_flows[i]
            .depends_on
            .iter()
            .filter_map(|dep| index.get(dep.as_str()))
            .map(|&j| depth_of(j, plan, index, memo))
            .max()
            .unwrap_or(0);
        memo[i] = Some(d);
        d
    }
    let critical_path = (0..plan.sub_flows.len())
        .map(|i| depth_of(i, plan, &index, &mut depth))
        .max()
        .unwrap_or(0);

    Ok(Bounds {
        critical_path,
        slot_rounds: plan.sub_flows.len().div_ceil(plan.concurrency_max) as u64,
        greedy: greedy(plan, |_| 1)?,
    })
}

/// Makespan of the service's [`Scheduler`] with zero overhead, sub-flow `i` taking
/// `duration(i)`: a discrete-event list schedule (completions at the same time handled in start
/// order, as the run's mailbox would).
fn greedy(plan: &Plan, duration: impl Fn(usize) -> u64) -> anyhow::Result<u64> {
    let mut scheduler = Scheduler::new(plan);
    let mut in_flight = BinaryHeap::new();
    let mut seq = 0u64;
    let mut end = 0;
    loop {
        for j in scheduler.start_ready() {
            in_flight.push(Reverse((end + duration(j), seq, j)));
            seq += 1;
        }
        let Some(Reverse((at, _, i))) = in_flight.pop() else {
            break;
        };
        end = at;
        scheduler.finish(i, SubFlowState::Succeeded);
    }
    ensure!(
        scheduler.outcome() == Some(true),
        "the simulated run did not succeed"
    );
    Ok(end)
}

/// Median and friends of integer samples (ms).
struct Stats {
    p50: i64,
    p90: i64,
    max: i64,
    mean: f64,
}

impl Stats {
    fn of(mut v: Vec<i64>) -> Stats {
        v.sort_unstable();
        let at = |p: f64| {
            let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
            v.get(rank.clamp(1, v.len().max(1)) - 1)
                .copied()
                .unwrap_or(0)
        };
        Stats {
            p50: at(50.0),
            p90: at(90.0),
            max: v.last().copied().unwrap_or(0),
            mean: v.iter().sum::<i64>() as f64 / v.len().max(1) as f64,
        }
    }

    fn line(&self, what: &str) -> String {
        format!(
            "    {what:<44} mean {:>6.2}  p50 {:>4}  p90 {:>4}  max {:>5}",
            self.mean, self.p50, self.p90, self.max
        )
    }
}

/// The sandbox and the service of the bench.
struct Stack {
    sandbox: Sandbox,
    app: actix_web::dev::ServerHandle,
    task: actix_rt::task::JoinHandle<std::io::Result<()>>,
    base: String,
    dir: std::path::PathBuf,
    /// Threads started by the sandbox (its worker and acceptor).
    sandbox_threads: HashSet<u32>,
    /// Threads started by `Application::build` (HTTP workers, acceptor).
    service_threads: HashSet<u32>,
}

async fn start_stack(cfg: &Config) -> anyhow::Result<Stack> {
    let before = Cpu::tids();
    let sandbox = Sandbox::start(SandboxOptions {
        bind: "127.0.0.1:0".into(),
        ..SandboxOptions::default()
    })
    .await
    .context("starting the sandbox")?;
    let faults = send_json(
        &http(),
        "POST",
        &format!("{}/sandbox/faults", sandbox.base_url()),
        &json!({"rate_limit_per_minute": UNLIMITED_RPM}),
    )
    .await?;
    ensure!(faults.0 == 200, "sandbox faults: {}", faults.1);
    // The sandbox's worker starts once the server runs: it has now, it answered.
    let after_sandbox = Cpu::tids();

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
    s.server.workers = 2;
    s.server.max_body_bytes = MAX_BODY_BYTES;
    s.kafka.brokers = vec![cfg.brokers.clone()];
    s.routing.rules_file = rules_file.display().to_string();
    s.audit.path = dir.join("audit.jsonl").display().to_string();
    s.cxone.base_url = sandbox.base_url();
    s.cxone.requests_per_minute = UNLIMITED_RPM;
    s.cxone.burst = UNLIMITED_BURST;
    s.orchestration.poll_after_ms = POLL_AFTER_MS;
    let app = Application::build(s, BuildOptions::default())
        .await
        .context("building the service (is a broker listening at SWITCHBOARD_BENCH_BROKERS?)")?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    let task = actix_rt::spawn(app.run_until_stopped());
    let mut stack = Stack {
        sandbox,
        app: handle,
        task,
        base,
        dir,
        sandbox_threads: after_sandbox.difference(&before).copied().collect(),
        service_threads: HashSet::new(),
    };
    // Completions only come by webhook once the service has registered its callback.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = stack.sandbox_state().await?;
        if state["requests"]["POST /api/v1/webhooks 201"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the service did not register its webhook"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    // The service's workers run once it has answered.
    let health = send_json(
        &http(),
        "GET",
        &format!("{}/healthz", stack.base),
        &Value::Null,
    )
    .await?;
    ensure!(health.0 == 200, "GET /healthz: {}", health.0);
    stack.service_threads = Cpu::tids().difference(&after_sandbox).copied().collect();
    Ok(stack)
}

impl Stack {
    async fn sandbox_state(&self) -> anyhow::Result<Value> {
        let (status, state) = send_json(
            &http(),
            "GET",
            &format!("{}/sandbox/state", self.sandbox.base_url()),
            &Value::Null,
        )
        .await?;
        ensure!(status == 200, "sandbox state: {status}");
        Ok(state)
    }

    async fn stop(self) {
        self.app.stop(true).await;
        let _ = self.task.await;
        self.sandbox.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn http() -> awc::Client {
    awc::Client::builder().timeout(HTTP_TIMEOUT).finish()
}

/// Sends `body` (JSON, none for GET) and returns the status and the JSON answer (Null if none).
async fn send_json(
    client: &awc::Client,
    method: &str,
    url: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let bytes = match body {
        Value::Null => Bytes::new(),
        v => Bytes::from(serde_json::to_vec(v)?),
    };
    send_bytes(client, method, url, bytes).await
}

async fn send_bytes(
    client: &awc::Client,
    method: &str,
    url: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Value)> {
    let req = match method {
        "GET" => client.get(url),
        _ => client
            .post(url)
            .insert_header(("Content-Type", "application/json")),
    };
    let mut resp = req
        .send_body(body)
        .await
        .map_err(|e| anyhow::anyhow!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .body()
        .limit(MAX_ANSWER_BYTES)
        .await
        .map_err(|e| anyhow::anyhow!("{method} {url}: body: {e}"))?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}

/// A settled run as the poller saw it.
struct Polled {
    report: Value,
    /// From the POST until the poll that saw `settled`.
    observed: Duration,
    polls: usize,
}

/// Runs `work` on a thread (and actix system) of its own, so the bench's HTTP client and
/// JSON parsing do not run on the actors' thread; joins it, so its CPU time is counted.
async fn on_thread<T, F, Fut>(name: &str, work: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (tx, rx) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            let _ = tx.send(actix_rt::System::new().block_on(work()));
        })
        .with_context(|| format!("spawning the {name} thread"))?;
    let result = rx
        .await
        .with_context(|| format!("the {name} thread died"))?;
    // It has sent its answer: joining takes no time.
    let _ = thread.join();
    result
}

/// POSTs the plan and polls its report until settled (on a thread of its own).
async fn run_plan(base: &str, plan: Arc<Bytes>, poll: Duration) -> anyhow::Result<Polled> {
    let base = base.to_string();
    on_thread("bench-poller", move || async move {
        let client = http();
        let started = Instant::now();
        let url = format!("{base}/orchestrations");
        let (status, body) = send_bytes(&client, "POST", &url, (*plan).clone()).await?;
        ensure!(status == 202, "POST /orchestrations: {status} {body}");
        let run_id = body["run_id"].as_str().context("run_id")?.to_string();
        let url = format!("{base}/orchestrations/{run_id}");
        let mut polls = 0;
        loop {
            polls += 1;
            let (status, report) = send_json(&client, "GET", &url, &Value::Null).await?;
            if status == 200 && report["settled"] == true {
                return Ok(Polled {
                    report,
                    observed: started.elapsed(),
                    polls,
                });
            }
            ensure!(
                started.elapsed() < RUN_TIMEOUT,
                "run {run_id} did not settle"
            );
            actix_rt::time::sleep(poll).await;
        }
    })
    .await
}

/// Round trip of `POST /cxone/webhook` (a completion of an unknown execution: buffered), one
/// at a time, with a client built per event (as the sandbox sends them; building it is timed)
/// and with one kept-alive client; medians in ms.
async fn webhook_probe(base: &str, events: usize) -> anyhow::Result<(f64, f64)> {
    let url = format!("{base}/cxone/webhook");
    on_thread("bench-probe", move || async move {
        let kept = http();
        let (mut fresh, mut reused) = (Vec::new(), Vec::new());
        for i in 0..events * 2 {
            let event = json!({
                "event_id": uuid::Uuid::new_v4().to_string(),
                "source": "bench",
                "data": {"subFlowId": uuid::Uuid::new_v4().to_string(),
                         "executionId": uuid::Uuid::new_v4().to_string(), "status": "completed"},
                "timestamp": "2026-01-01T00:00:00.000Z",
            });
            let t = Instant::now();
            let (client, into) = match i % 2 {
                0 => (http(), &mut fresh),
                _ => (kept.clone(), &mut reused),
            };
            let (status, body) = send_json(&client, "POST", &url, &event).await?;
            into.push(t.elapsed());
            ensure!(
                status == 200 && body["status"] == "buffered",
                "{status} {body}"
            );
        }
        Ok((ms(median(fresh)), ms(median(reused))))
    })
    .await
}

/// What one `GET /orchestrations/{run_id}` of a 1 000-entry report costs the poller: round trip
/// to the last body byte, then parsing (medians in ms), and the body's size.
async fn report_probe(base: &str, run_id: &str, n: usize) -> anyhow::Result<(f64, f64, usize)> {
    let url = format!("{base}/orchestrations/{run_id}");
    on_thread("bench-probe", move || async move {
        let client = http();
        let (mut fetch, mut parse, mut size) = (Vec::new(), Vec::new(), 0);
        for _ in 0..n {
            let t = Instant::now();
            let mut resp = client
                .get(&url)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
            let body = resp.body().limit(MAX_ANSWER_BYTES).await?;
            fetch.push(t.elapsed());
            let t = Instant::now();
            let report: Value = serde_json::from_slice(&body)?;
            parse.push(t.elapsed());
            ensure!(report["settled"] == true, "the probed run is not settled");
            size = body.len();
        }
        Ok((ms(median(fetch)), ms(median(parse)), size))
    })
    .await
}

fn rfc3339_ms(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// What one run achieved, from its report and the sandbox's executions.
struct Achieved {
    makespan_ms: i64,
    wall_clock_ms: u64,
    peak: i64,
    mean_in_flight: f64,
    overshoot: Stats,
    webhook: Stats,
    dispatch: Stats,
    post: Stats,
    slot_idle: Stats,
    /// Each sub-flow's execution length by the sandbox's clock, in plan order.
    durations: Vec<u64>,
    /// Mean webhook stage of the first and last tenth of each round's completions, and mean
    /// POST stage of the first and last tenth of each round's launches (ms).
    burst: [f64; 4],
}

fn analyse(
    report: &Value,
    state: &Value,
    latency_ms: u64,
    cap: usize,
    n: usize,
) -> anyhow::Result<Achieved> {
    ensure!(
        report["outcome"] == "satisfied",
        "run outcome {}",
        report["outcome"]
    );
    let sub_flows = report["sub_flows"].as_array().context("sub_flows")?;
    ensure!(
        sub_flows.len() == n,
        "{} sub-flows reported",
        sub_flows.len()
    );
    let executions: HashMap<&str, &Value> = state["executions"]
        .as_array()
        .context("executions")?
        .iter()
        .filter_map(|e| Some((e["execution_id"].as_str()?, e)))
        .collect();
    let mut rows = Vec::with_capacity(n);
    for s in sub_flows {
        ensure!(
            s["status"] == "succeeded",
            "sub-flow {} is {}",
            s["sub_flow_id"],
            s["status"]
        );
        let e = s["execution_id"]
            .as_str()
            .and_then(|id| executions.get(id))
            .with_context(|| format!("sub-flow {} has no sandbox execution", s["sub_flow_id"]))?;
        ensure!(
            e["status"] == "succeeded",
            "execution {} is {}",
            e["execution_id"],
            e["status"]
        );
        let field = |v: &Value, what: &str| v.as_i64().with_context(|| format!("{what} missing"));
        rows.push((
            field(&e["started_at_ms"], "started_at_ms")?,
            field(&e["completed_at_ms"], "completed_at_ms")?,
            rfc3339_ms(&s["started_at"]).context("started_at")?,
            rfc3339_ms(&s["finished_at"]).context("finished_at")?,
        ));
    }
    let executed: std::collections::HashSet<&str> = sub_flows
        .iter()
        .filter_map(|s| executions.get(s["execution_id"].as_str()?)?["data_action_id"].as_str())
        .collect();
    ensure!(
        executed.len() == n,
        "{} distinct sub-flows executed",
        executed.len()
    );

    let first = rows.iter().map(|r| r.0).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.1).max().unwrap_or(0);
    let mut edges: Vec<(i64, i64)> = rows.iter().flat_map(|r| [(r.0, 1), (r.1, -1)]).collect();
    edges.sort_unstable();
    let (mut now, mut peak) = (0, 0);
    for (_, d) in edges {
        now += d;
        peak = peak.max(now);
    }
    let busy: i64 = rows.iter().map(|r| r.1 - r.0).sum();
    // A hop: a slot frees (the i-th end) and the (i+cap)-th start takes it; the ready queue of
    // a layered plan this wide is never empty at a hop, so hops are slot-bound.
    let sorted = |f: fn(&(i64, i64, i64, i64)) -> i64| {
        let mut v: Vec<i64> = rows.iter().map(f).collect();
        v.sort_unstable();
        v
    };
    let hops = |starts: &[i64], ends: &[i64]| -> Vec<i64> {
        starts
            .iter()
            .skip(cap)
            .zip(ends)
            .map(|(s, e)| s - e)
            .collect()
    };
    let (sandbox_starts, sandbox_ends) = (sorted(|r| r.0), sorted(|r| r.1));
    let (launches, finishes) = (sorted(|r| r.2), sorted(|r| r.3));
    Ok(Achieved {
        makespan_ms: last - first,
        wall_clock_ms: report["wall_clock_ms"].as_u64().unwrap_or(0),
        peak,
        mean_in_flight: busy as f64 / (last - first).max(1) as f64,
        overshoot: Stats::of(rows.iter().map(|r| r.1 - r.0 - latency_ms as i64).collect()),
        webhook: Stats::of(rows.iter().map(|r| r.3 - r.1).collect()),
        dispatch: Stats::of(hops(&launches, &finishes)),
        post: Stats::of(rows.iter().map(|r| r.0 - r.2).collect()),
        slot_idle: Stats::of(hops(&sandbox_starts, &sandbox_ends)),
        durations: rows.iter().map(|r| (r.1 - r.0).max(0) as u64).collect(),
        burst: burst_position(&rows, cap),
    })
}

/// Clock ticks per second of `/proc` CPU times (USER_HZ, 100 on Linux).
const CLK_TCK: u64 = 100;

/// Thread name and CPU ticks (user + system) from a `/proc/.../stat` line.
fn stat_ticks(text: &str) -> Option<(String, u64)> {
    let (open, close) = (text.find('(')?, text.rfind(')')?);
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((text[open + 1..close].to_string(), utime + stime))
}

/// CPU ticks of this process (exited threads included), and of each live thread by tid with
/// the nanoseconds it waited on a run queue (`/proc/.../schedstat`: runnable, no core free).
struct Cpu {
    process: u64,
    threads: HashMap<u32, (u64, u64)>,
}

/// Where a run's CPU went, in ms.
struct CpuUse {
    /// Main thread (actors), service threads, sandbox threads, exited threads (the bench's
    /// poller), other live threads.
    cpu: [f64; 5],
    /// Run-queue wait of the main thread, the service threads and the sandbox threads.
    wait: [f64; 3],
}

impl Cpu {
    fn now() -> Cpu {
        let process = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|t| stat_ticks(&t))
            .map_or(0, |(_, t)| t);
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
                Some((tid, (stat_ticks(&text)?.1, wait)))
            })
            .collect();
        Cpu { process, threads }
    }

    fn tids() -> HashSet<u32> {
        Cpu::now().threads.into_keys().collect()
    }

    fn since(&self, before: &Cpu, stack: &Stack) -> CpuUse {
        let main = std::process::id();
        let (mut cpu, mut wait) = ([0.0; 5], [0.0; 3]);
        let mut live = 0;
        for (tid, (ticks, waited)) in &self.threads {
            let (t0, w0) = before.threads.get(tid).copied().unwrap_or((0, 0));
            let d = ticks.saturating_sub(t0);
            live += d;
            let slot = if *tid == main {
                0
            } else if stack.service_threads.contains(tid) {
                1
            } else if stack.sandbox_threads.contains(tid) {
                2
            } else {
                4
            };
            cpu[slot] += d as f64 * 1e3 / CLK_TCK as f64;
            if slot < 3 {
                wait[slot] += waited.saturating_sub(w0) as f64 / 1e6;
            }
        }
        cpu[3] = self.process.saturating_sub(before.process + live) as f64 * 1e3 / CLK_TCK as f64;
        CpuUse { cpu, wait }
    }
}

/// Whether a hop waits behind the others of its round: rounds are `cap` consecutive
/// completions (launches); compares the mean stage of the first and last tenth of each round.
fn burst_position(rows: &[(i64, i64, i64, i64)], cap: usize) -> [f64; 4] {
    let tenth = (cap / 10).max(1);
    let split = |order: fn(&(i64, i64, i64, i64)) -> i64,
                 stage: fn(&(i64, i64, i64, i64)) -> i64| {
        let mut sorted: Vec<&(i64, i64, i64, i64)> = rows.iter().collect();
        sorted.sort_by_key(|r| order(r));
        let (mut first, mut last) = (Vec::new(), Vec::new());
        for (i, r) in sorted.iter().enumerate() {
            match i % cap {
                k if k < tenth => first.push(stage(r)),
                k if k >= cap - tenth => last.push(stage(r)),
                _ => {}
            }
        }
        let mean = |v: &[i64]| v.iter().sum::<i64>() as f64 / v.len().max(1) as f64;
        (mean(&first), mean(&last))
    };
    let (w0, w1) = split(|r| r.1, |r| r.3 - r.1);
    let (p0, p1) = split(|r| r.2, |r| r.0 - r.2);
    [w0, w1, p0, p1]
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The 10 000-node plan, valid and with one unknown dependency on its last sub-flow.
fn validation_plans(cap: usize) -> anyhow::Result<(Value, Value)> {
    let (layers, width) = VALIDATION_SHAPE;
    let valid = layered_plan(layers, width, cap, 100, SEED + 1);
    let mut invalid = valid.clone();
    let last = invalid["sub_flows"]
        .as_array_mut()
        .and_then(|l| l.last_mut())
        .context("no sub-flows")?;
    last["depends_on"]
        .as_array_mut()
        .context("depends_on")?
        .push(json!(uuid::Uuid::new_v4().to_string()));
    Ok((valid, invalid))
}

fn time_in_process(cfg: &Config) -> anyhow::Result<Bytes> {
    let (valid, invalid) = validation_plans(cfg.cap)?;
    let n = VALIDATION_SHAPE.0 * VALIDATION_SHAPE.1;
    let text = serde_json::to_string(&valid)?;
    let mut parse = Vec::new();
    let mut validate = Vec::new();
    let mut reject = Vec::new();
    for _ in 0..cfg.validation_runs {
        let t = Instant::now();
        let value: Value = serde_json::from_str(&text)?;
        parse.push(t.elapsed());
        let t = Instant::now();
        let plan = validate_plan(&value, n).map_err(|p| anyhow::anyhow!("invalid: {p:?}"))?;
        validate.push(t.elapsed());
        ensure!(
            plan.sub_flows.len() == n,
            "{} sub-flows",
            plan.sub_flows.len()
        );
        let t = Instant::now();
        let problems = validate_plan(&invalid, n)
            .err()
            .context("the invalid plan passed")?;
        reject.push(t.elapsed());
        ensure!(
            problems.len() == 1 && problems[0].kind == "unknown_dependency",
            "unexpected problems {problems:?}"
        );
    }
    println!();
    println!(
        "Validation of a {}×{} plan ({n} sub-flows, {} bytes of JSON; median of {})",
        VALIDATION_SHAPE.0,
        VALIDATION_SHAPE.1,
        text.len(),
        cfg.validation_runs
    );
    println!(
        "  serde_json parse                    {:>8.2} ms",
        ms(median(parse))
    );
    println!(
        "  validate_plan (valid)               {:>8.2} ms",
        ms(median(validate))
    );
    println!(
        "  validate_plan (1 unknown dependency) {:>7.2} ms",
        ms(median(reject))
    );
    Ok(Bytes::from(serde_json::to_vec(&invalid)?))
}

async fn time_over_http(cfg: &Config, stack: &Stack, invalid: Bytes) -> anyhow::Result<()> {
    let client = http();
    let url = format!("{}/orchestrations", stack.base);
    let mut times = Vec::new();
    for round in 0..=cfg.validation_runs {
        let t = Instant::now();
        let (status, body) = send_bytes(&client, "POST", &url, invalid.clone()).await?;
        let took = t.elapsed();
        ensure!(
            status == 400 && body["error"] == "invalid_plan",
            "{status} {body}"
        );
        if round > 0 {
            times.push(took);
        }
    }
    println!(
        "  POST /orchestrations (invalid, 400)  {:>7.2} ms   (HTTP round trip: {} bytes up, read, parse, validate; body limit raised to {} MiB, the default 1 MiB answers 413)",
        ms(median(times)),
        invalid.len(),
        MAX_BODY_BYTES >> 20
    );
    Ok(())
}

async fn makespan(cfg: &Config, stack: &Stack) -> anyhow::Result<()> {
    let n = cfg.layers * cfg.width;
    let l = cfg.latency_ms;
    let plan_json = layered_plan(cfg.layers, cfg.width, cfg.cap, l, SEED);
    let plan = validate_plan(&plan_json, n)
        .map_err(|p| anyhow::anyhow!("the bench plan is invalid: {p:?}"))?;
    let b = bounds(&plan)?;
    let ideal = b.greedy * l;
    let lower = b.critical_path.max(b.slot_rounds) * l;
    println!();
    println!(
        "Makespan: {} layers × {} sub-flows (N={n}, 2–3 dependencies each on the previous layer), concurrency_max {}, L={l} ms",
        cfg.layers, cfg.width, cfg.cap
    );
    println!(
        "  lower bound max(critical path {} × L, ⌈N/cap⌉ {} × L) = {lower} ms;  ideal (service's Scheduler, zero overhead) = {} × L = {ideal} ms",
        b.critical_path, b.slot_rounds, b.greedy
    );

    // Warm-up: token, connection pools, allocators; not measured.
    let warm = layered_plan(2, cfg.cap, cfg.cap, 5, SEED + 2);
    let warm = run_plan(
        &stack.base,
        Arc::new(Bytes::from(serde_json::to_vec(&warm)?)),
        cfg.poll,
    )
    .await?;
    ensure!(
        warm.report["outcome"] == "satisfied",
        "warm-up run: {}",
        warm.report["outcome"]
    );

    let body = Arc::new(Bytes::from(serde_json::to_vec(&plan_json)?));
    let mut ratios = Vec::new();
    let mut last_run = None;
    for run in 1..=cfg.runs {
        let load = load_average();
        let cpu_before = Cpu::now();
        let polled = run_plan(&stack.base, body.clone(), cfg.poll).await?;
        let cpu = Cpu::now().since(&cpu_before, stack);
        last_run = polled.report["run_id"].as_str().map(String::from);
        let state = stack.sandbox_state().await?;
        let a = analyse(&polled.report, &state, l, cfg.cap, n)?;
        let measured_ideal = greedy(&plan, |i| a.durations.get(i).copied().unwrap_or(l))?;
        let ratio = a.makespan_ms as f64 / ideal.max(1) as f64;
        ratios.push(ratio);
        let over = a.makespan_ms - ideal as i64;
        println!();
        println!(
            "  run {run}: makespan {} ms (sandbox clock)  ideal {ideal} ms  ratio {ratio:.3} {}  wall_clock_ms {}  seen settled after {:.0} ms ({} polls)  load {load}",
            a.makespan_ms,
            if ratio <= TARGET_RATIO { "(within 10%)" } else { "(MISSES ≤ 1.10)" },
            a.wall_clock_ms,
            ms(polled.observed),
            polled.polls
        );
        println!(
            "    overhead {over} ms = {:.1} ms per layer ({} layers) = {:.1} ms per hop ({} slot rounds); peak in flight {} (cap {}), mean {:.1}",
            over as f64 / cfg.layers as f64,
            cfg.layers,
            over as f64 / b.greedy as f64,
            b.greedy,
            a.peak,
            cfg.cap,
            a.mean_in_flight
        );
        println!("    per hop, ms (execution ends → its slot's next execution starts):");
        println!("{}", a.overshoot.line("sandbox: execution length − L"));
        println!(
            "{}",
            a.webhook.line("sandbox end → service records it (webhook)")
        );
        println!("{}", a.dispatch.line("service records end → launches next"));
        println!(
            "{}",
            a.post.line("service launches → sandbox receives POST")
        );
        println!(
            "{}",
            a.slot_idle
                .line("slot idle, sandbox clock (end → next start)")
        );
        println!(
            "    ideal with the sandbox's measured execution lengths {measured_ideal} ms: ratio {:.3}, the rest is {:.1} ms per hop",
            a.makespan_ms as f64 / measured_ideal.max(1) as f64,
            (a.makespan_ms - measured_ideal as i64) as f64 / b.greedy as f64
        );
        println!(
            "    burst position (first vs last tenth of each round of {}): webhook stage {:.1} vs {:.1} ms, POST stage {:.1} vs {:.1} ms",
            cfg.cap, a.burst[0], a.burst[1], a.burst[2], a.burst[3]
        );
        let total: f64 = cpu.cpu.iter().sum();
        println!(
            "    CPU ms during the run: actors (main thread) {:.0}, service HTTP threads {:.0}, sandbox threads {:.0}, bench poller {:.0}, other {:.0}; total {total:.0} = {:.2} cores over {:.0} ms",
            cpu.cpu[0],
            cpu.cpu[1],
            cpu.cpu[2],
            cpu.cpu[3],
            cpu.cpu[4],
            total / ms(polled.observed).max(1.0),
            ms(polled.observed)
        );
        println!(
            "    waited for a free core (run queue) ms: actors {:.0}, service HTTP threads {:.0}, sandbox threads {:.0}",
            cpu.wait[0], cpu.wait[1], cpu.wait[2]
        );
    }
    ratios.sort_by(f64::total_cmp);
    let (fresh, reused) = webhook_probe(&stack.base, 200).await?;
    println!();
    println!(
        "  probe: POST /cxone/webhook round trip, one at a time (median of 200): fresh client per event (as the sandbox sends) {fresh:.2} ms, kept-alive client {reused:.2} ms"
    );
    if let Some(run_id) = last_run {
        let (fetch, parse, size) = report_probe(&stack.base, &run_id, 30).await?;
        println!(
            "  probe: GET /orchestrations/{{run_id}} of a settled {n}-entry run (median of 30): {size} bytes, {fetch:.2} ms to the last byte + {parse:.2} ms to parse; every {} ms while a run is polled",
            cfg.poll.as_millis()
        );
    }
    println!(
        "  median ratio {:.3} over {} runs (target ≤ {TARGET_RATIO:.2})",
        ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN),
        ratios.len()
    );
    Ok(())
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cfg = Config::from_env()?;
    if cfg.layers == 0 || cfg.width == 0 || !(1..=50).contains(&cfg.cap) {
        bail!("BENCH_LAYERS and BENCH_WIDTH must be positive, BENCH_CAP within 1..=50");
    }
    println!("switchboard orchestration bench");
    println!(
        "  broker {}  cores {}  poll every {} ms  runs {}  load {}",
        cfg.brokers,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        cfg.poll.as_millis(),
        cfg.runs,
        load_average()
    );
    let invalid = time_in_process(&cfg)?;
    let stack = start_stack(&cfg).await?;
    let result = async {
        time_over_http(&cfg, &stack, invalid).await?;
        makespan(&cfg, &stack).await
    }
    .await;
    stack.stop().await;
    result
}
