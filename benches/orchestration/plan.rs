//! The layered DAG and its ideal: the simple lower bound and the service's own scheduler in a
//! discrete-event simulation.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use anyhow::ensure;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use switchboard_actors::orchestration::{Plan, Scheduler, SubFlowState};

/// A layered plan: `layers` × `width` sub-flows, each of layer k>0 depending on 2–3 distinct
/// sub-flows of layer k−1, every execution taking `latency_ms` in the sandbox.
pub(crate) fn layered_plan(
    layers: usize,
    width: usize,
    cap: usize,
    latency_ms: u64,
    seed: u64,
) -> Value {
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
pub(crate) struct Bounds {
    /// Longest dependency chain, in sub-flows.
    pub(crate) critical_path: u64,
    /// ⌈N / cap⌉.
    pub(crate) slot_rounds: u64,
    /// The service's own scheduler with zero overhead, in ticks.
    pub(crate) greedy: u64,
}

/// Critical path, slot rounds, and the [`greedy`] schedule with unit-length executions.
pub(crate) fn bounds(plan: &Plan) -> anyhow::Result<Bounds> {
    let index = plan.positions();
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
pub(crate) fn greedy(plan: &Plan, duration: impl Fn(usize) -> u64) -> anyhow::Result<u64> {
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
