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
//! Environment (all optional): `SWITCHBOARD_BENCH_BROKERS` (127.0.0.1:9092), `BENCH_STATE_URL`
//! (the service's state store: a SQLite file in the temp dir by default, or e.g. PostgreSQL),
//! `BENCH_LATENCY_MS` (100), `BENCH_LAYERS` (10), `BENCH_WIDTH` (100), `BENCH_CAP` (50),
//! `BENCH_RUNS` (3), `BENCH_POLL_MS` (20), `BENCH_VALIDATION_RUNS` (5), `RUST_LOG` (warn).
//! Checked: each run is `satisfied` and every sub-flow executed exactly once and succeeded.
//! Nothing is asserted against the target. Linux only (`/proc`).

mod analysis;
#[allow(dead_code)]
#[path = "../common/mod.rs"]
mod common;
mod config;
mod cpu;
mod makespan;
mod plan;
mod probes;
mod stack;
mod stats;
mod validation;

use std::time::Duration;

use anyhow::bail;

use crate::config::Config;
use crate::makespan::makespan;
use crate::stack::start_stack;
use crate::stats::load_average;
use crate::validation::{time_in_process, time_over_http};

/// Seed of the DAG's ids and dependencies.
pub(crate) const SEED: u64 = 0x5eed_0000;
/// Rate limits (per minute) of the sandbox and the client, high enough never to throttle.
pub(crate) const UNLIMITED_RPM: u32 = 10_000_000;
/// Client burst, so the first `cap` POSTs never wait for the limiter.
pub(crate) const UNLIMITED_BURST: u32 = 100_000;
/// Completions come by webhook: the first poll would be after this.
pub(crate) const POLL_AFTER_MS: u64 = 60_000;
/// Body limit of the bench's service: a 10 000-node plan is ~2.5 MB (default 1 MiB).
pub(crate) const MAX_BODY_BYTES: usize = 32 << 20;
/// Layers × width of the plan timed for validation (10 000 sub-flows).
pub(crate) const VALIDATION_SHAPE: (usize, usize) = (100, 100);
/// Longest wait for one run to settle.
pub(crate) const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Largest answer body the bench reads.
pub(crate) const MAX_ANSWER_BYTES: usize = 64 << 20;
/// Target: achieved makespan over the ideal.
pub(crate) const TARGET_RATIO: f64 = 1.10;

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
