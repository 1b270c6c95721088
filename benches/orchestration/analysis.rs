//! Where a run's time went: its hops, the ideal with measured execution lengths, and bursts.

use std::collections::HashMap;

use anyhow::{ensure, Context as _};
use serde_json::Value;

use crate::stats::Stats;

pub(crate) fn rfc3339_ms(v: &Value) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(v.as_str()?)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// What one run achieved, from its report and the sandbox's executions.
pub(crate) struct Achieved {
    pub(crate) makespan_ms: i64,
    pub(crate) wall_clock_ms: u64,
    pub(crate) peak: i64,
    pub(crate) mean_in_flight: f64,
    pub(crate) overshoot: Stats,
    pub(crate) webhook: Stats,
    pub(crate) dispatch: Stats,
    pub(crate) post: Stats,
    pub(crate) slot_idle: Stats,
    /// Each sub-flow's execution length by the sandbox's clock, in plan order.
    pub(crate) durations: Vec<u64>,
    /// Mean webhook stage of the first and last tenth of each round's completions, and mean
    /// POST stage of the first and last tenth of each round's launches (ms).
    pub(crate) burst: [f64; 4],
}

pub(crate) fn analyse(
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

/// Whether a hop waits behind the others of its round: rounds are `cap` consecutive
/// completions (launches); compares the mean stage of the first and last tenth of each round.
pub(crate) fn burst_position(rows: &[(i64, i64, i64, i64)], cap: usize) -> [f64; 4] {
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
