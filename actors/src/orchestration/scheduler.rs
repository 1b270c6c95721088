//! The run's state machine, free of actors and I/O: which sub-flows may start (every
//! dependency succeeded, fewer than `concurrency_max` in flight), skips propagated at once to
//! the dependents of a sub-flow that did not succeed, and the merge condition decided as
//! early as possible (seed 000, with its defect fixed: dependencies are honoured at run time).
//! Once decided, sub-flows not yet started are cancelled; those in flight finish and are
//! still recorded.

use std::collections::VecDeque;

use serde::Serialize;

use super::plan::{MergeCondition, Plan};

/// A sub-flow's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubFlowState {
    /// Waiting for its dependencies or a slot.
    Pending,
    /// Executing (from the POST until a terminal state).
    Running,
    /// Completed successfully.
    Succeeded,
    /// Completed with failure (or the POST failed).
    Failed,
    /// A dependency did not succeed; never executed.
    Skipped,
    /// Not started when the merge condition was decided; never executed.
    Cancelled,
    /// Still running after `orchestration.execution_timeout_secs`.
    TimedOut,
}

impl SubFlowState {
    /// Whether the state is final.
    pub fn is_terminal(self) -> bool {
        !matches!(self, SubFlowState::Pending | SubFlowState::Running)
    }
}

/// Evaluates a merge condition over terminal outcomes: `Some(holds)` once decided.
/// `succeeded`/`unsuccessful` count terminal sub-flows, `total` all of them.
pub fn decide(
    merge: MergeCondition,
    succeeded: usize,
    unsuccessful: usize,
    total: usize,
) -> Option<bool> {
    let all_done = succeeded + unsuccessful == total;
    match merge {
        MergeCondition::All if unsuccessful > 0 => Some(false),
        MergeCondition::All => all_done.then_some(true),
        MergeCondition::Any if succeeded > 0 => Some(true),
        MergeCondition::Any => all_done.then_some(false),
        MergeCondition::None if succeeded > 0 => Some(false),
        MergeCondition::None => all_done.then_some(true),
    }
}

struct Node {
    dependents: Vec<usize>,
    waiting_on: usize,
    state: SubFlowState,
}

/// The scheduler of one run. Sub-flows are addressed by their index in the plan.
pub struct Scheduler {
    nodes: Vec<Node>,
    ready: VecDeque<usize>,
    cap: usize,
    running: usize,
    merge: MergeCondition,
    succeeded: usize,
    unsuccessful: usize,
    decided: Option<bool>,
}

impl Scheduler {
    /// A scheduler for a validated plan (ids unique, dependencies known, acyclic).
    pub fn new(plan: &Plan) -> Self {
        let index = plan.positions();
        let mut nodes: Vec<Node> = plan
            .sub_flows
            .iter()
            .map(|s| Node {
                dependents: Vec::new(),
                waiting_on: s.depends_on.len(),
                state: SubFlowState::Pending,
            })
            .collect();
        for (i, s) in plan.sub_flows.iter().enumerate() {
            for dep in &s.depends_on {
                if let Some(&d) = index.get(dep.as_str()) {
                    nodes[d].dependents.push(i);
                }
            }
        }
        let ready = nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.waiting_on == 0)
            .map(|(i, _)| i)
            .collect();
        Scheduler {
            nodes,
            ready,
            cap: plan.concurrency_max.max(1),
            running: 0,
            merge: plan.merge_condition,
            succeeded: 0,
            unsuccessful: 0,
            decided: None,
        }
    }

    /// Sub-flows to start now (each becomes `Running`), within the cap.
    pub fn start_ready(&mut self) -> Vec<usize> {
        let mut out = Vec::new();
        while self.decided.is_none() && self.running < self.cap {
            let Some(i) = self.ready.pop_front() else {
                break;
            };
            if self.nodes[i].state != SubFlowState::Pending {
                continue;
            }
            self.nodes[i].state = SubFlowState::Running;
            self.running += 1;
            out.push(i);
        }
        out
    }

    /// Restores sub-flow `i`'s recorded end when a run is resumed: it is started (outside the
    /// cap) and finished with `state`, with the same consequences as at the time (dependents
    /// readied or skipped, the merge condition decided). Only an execution's own ends
    /// (succeeded, failed, timed out) are replayed; skips and cancellations follow from them.
    /// Nothing happens for a sub-flow no longer pending, or a non-terminal state.
    pub fn replay(&mut self, i: usize, state: SubFlowState) -> Vec<(usize, SubFlowState)> {
        let replayable = matches!(
            state,
            SubFlowState::Succeeded | SubFlowState::Failed | SubFlowState::TimedOut
        );
        if !replayable || self.nodes.get(i).map(|n| n.state) != Some(SubFlowState::Pending) {
            return Vec::new();
        }
        self.nodes[i].state = SubFlowState::Running;
        self.running += 1;
        self.finish(i, state)
    }

    /// Records a running sub-flow's terminal state; returns the sub-flows that became
    /// `Skipped` or `Cancelled` as a consequence. Unknown, non-running or non-terminal
    /// reports change nothing (duplicate completions are ignored).
    pub fn finish(&mut self, i: usize, state: SubFlowState) -> Vec<(usize, SubFlowState)> {
        let mut changed = Vec::new();
        if !state.is_terminal() || self.nodes.get(i).map(|n| n.state) != Some(SubFlowState::Running)
        {
            return changed;
        }
        self.running -= 1;
        self.set_terminal(i, state);
        if state == SubFlowState::Succeeded {
            for d in self.nodes[i].dependents.clone() {
                self.nodes[d].waiting_on -= 1;
                if self.nodes[d].waiting_on == 0 && self.nodes[d].state == SubFlowState::Pending {
                    self.ready.push_back(d);
                }
            }
        } else {
            self.skip_dependents(i, &mut changed);
        }
        self.evaluate(&mut changed);
        changed
    }

    fn set_terminal(&mut self, i: usize, state: SubFlowState) {
        self.nodes[i].state = state;
        if state == SubFlowState::Succeeded {
            self.succeeded += 1;
        } else {
            self.unsuccessful += 1;
        }
    }

    fn skip_dependents(&mut self, i: usize, changed: &mut Vec<(usize, SubFlowState)>) {
        let mut stack = self.nodes[i].dependents.clone();
        while let Some(d) = stack.pop() {
            if self.nodes[d].state == SubFlowState::Pending {
                self.set_terminal(d, SubFlowState::Skipped);
                changed.push((d, SubFlowState::Skipped));
                stack.extend(self.nodes[d].dependents.iter().copied());
            }
        }
    }

    fn evaluate(&mut self, changed: &mut Vec<(usize, SubFlowState)>) {
        if self.decided.is_some() {
            return;
        }
        self.decided = decide(
            self.merge,
            self.succeeded,
            self.unsuccessful,
            self.nodes.len(),
        );
        if self.decided.is_some() {
            for i in 0..self.nodes.len() {
                if self.nodes[i].state == SubFlowState::Pending {
                    self.nodes[i].state = SubFlowState::Cancelled;
                    changed.push((i, SubFlowState::Cancelled));
                }
            }
            self.ready.clear();
        }
    }

    /// `Some(holds)` once the merge condition is decided.
    pub fn outcome(&self) -> Option<bool> {
        self.decided
    }

    /// Sub-flows that succeeded so far.
    pub fn succeeded(&self) -> usize {
        self.succeeded
    }

    /// A sub-flow's state.
    pub fn state(&self, i: usize) -> SubFlowState {
        self.nodes.get(i).map_or(SubFlowState::Pending, |n| n.state)
    }

    /// Whether nothing more will happen: decided and nothing in flight.
    pub fn is_settled(&self) -> bool {
        self.decided.is_some() && self.running == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestration::plan::SubFlow;
    use serde_json::json;

    fn plan(edges: &[(usize, &[usize])], cap: usize, merge: MergeCondition) -> Plan {
        Plan {
            sub_flows: edges
                .iter()
                .map(|(i, deps)| SubFlow {
                    id: format!("n{i}"),
                    depends_on: deps.iter().map(|d| format!("n{d}")).collect(),
                    input_data: json!({}),
                })
                .collect(),
            concurrency_max: cap,
            merge_condition: merge,
        }
    }

    use SubFlowState::*;

    #[test]
    fn a_resumed_run_replays_recorded_ends_in_any_order_and_starts_only_what_is_left() {
        // 0 -> 1 -> 2, and 3 alone, under ANY: 3 failed, then 0 succeeded (their recorded
        // order), which decided the run; 1 and 2 never started.
        let p = plan(
            &[(0, &[]), (1, &[0]), (2, &[1]), (3, &[])],
            1,
            MergeCondition::Any,
        );
        let mut s = Scheduler::new(&p);
        assert!(s.replay(3, Failed).is_empty());
        assert_eq!(s.outcome(), None);
        assert_eq!(s.replay(0, Succeeded), vec![(1, Cancelled), (2, Cancelled)]);
        assert_eq!(
            s.replay(0, Failed),
            vec![],
            "an ended sub-flow is not replayed twice"
        );
        assert!(
            s.replay(2, Skipped).is_empty(),
            "a derived state is not replayed"
        );
        assert_eq!(s.outcome(), Some(true));
        assert!(s.start_ready().is_empty(), "decided: nothing more starts");
        assert!(s.is_settled());

        // Under ALL with nothing decided: only the sub-flow whose dependencies ended starts.
        let p = plan(
            &[(0, &[]), (1, &[0]), (2, &[1]), (3, &[])],
            4,
            MergeCondition::All,
        );
        let mut s = Scheduler::new(&p);
        s.replay(0, Succeeded);
        s.replay(3, Succeeded);
        assert_eq!(s.start_ready(), vec![1]);
        assert_eq!(s.replay(1, Failed), vec![], "1 is running now, not pending");
        assert_eq!(s.finish(1, Failed), vec![(2, Skipped)]);
        assert_eq!(s.outcome(), Some(false));
    }

    #[test]
    fn merge_conditions_are_decided_as_early_as_possible() {
        use MergeCondition as M;
        assert_eq!(decide(M::All, 1, 0, 3), None);
        assert_eq!(decide(M::All, 1, 1, 3), Some(false));
        assert_eq!(decide(M::All, 3, 0, 3), Some(true));
        assert_eq!(decide(M::Any, 0, 2, 3), None);
        assert_eq!(decide(M::Any, 1, 0, 3), Some(true));
        assert_eq!(decide(M::Any, 0, 3, 3), Some(false));
        assert_eq!(decide(M::None, 1, 0, 3), Some(false));
        assert_eq!(decide(M::None, 0, 3, 3), Some(true));
        assert_eq!(decide(M::None, 0, 2, 3), None);
    }

    #[test]
    fn dependents_wait_for_success_and_the_cap_holds() {
        // 0 and 1 are roots, 2 depends on both, cap 1.
        let mut s = Scheduler::new(&plan(
            &[(0, &[]), (1, &[]), (2, &[0, 1])],
            1,
            MergeCondition::All,
        ));
        assert_eq!(s.start_ready(), vec![0]);
        assert_eq!(s.start_ready(), Vec::<usize>::new(), "cap 1");
        s.finish(0, Succeeded);
        assert_eq!(s.start_ready(), vec![1]);
        s.finish(1, Succeeded);
        assert_eq!(s.start_ready(), vec![2]);
        s.finish(2, Succeeded);
        assert_eq!(s.outcome(), Some(true));
        assert!(s.is_settled());
    }

    #[test]
    fn a_failure_skips_its_dependents_at_once_transitively() {
        let mut s = Scheduler::new(&plan(
            &[(0, &[]), (1, &[0]), (2, &[1]), (3, &[])],
            4,
            MergeCondition::Any,
        ));
        assert_eq!(s.start_ready(), vec![0, 3]);
        let changed = s.finish(0, Failed);
        assert_eq!(changed, vec![(1, Skipped), (2, Skipped)]);
        assert_eq!(s.outcome(), None, "3 may still succeed");
        s.finish(3, Failed);
        assert_eq!(s.outcome(), Some(false));
    }

    #[test]
    fn once_decided_pending_sub_flows_are_cancelled_and_running_ones_still_recorded() {
        let mut s = Scheduler::new(&plan(
            &[(0, &[]), (1, &[]), (2, &[]), (3, &[0])],
            2,
            MergeCondition::All,
        ));
        assert_eq!(s.start_ready(), vec![0, 1]);
        let changed = s.finish(1, Failed);
        assert_eq!(s.outcome(), Some(false));
        assert!(changed.contains(&(2, Cancelled)) && changed.contains(&(3, Cancelled)));
        assert!(s.start_ready().is_empty());
        assert!(!s.is_settled(), "0 is still in flight");
        s.finish(0, Succeeded);
        assert_eq!(s.state(0), Succeeded);
        assert_eq!(
            s.state(3),
            Cancelled,
            "a late success does not start cancelled work"
        );
        assert!(s.is_settled());
    }

    #[test]
    fn duplicate_and_unknown_completions_change_nothing() {
        let mut s = Scheduler::new(&plan(&[(0, &[]), (1, &[0])], 1, MergeCondition::All));
        assert!(
            s.finish(0, Succeeded).is_empty(),
            "not running yet: ignored"
        );
        assert_eq!(s.state(0), Pending);
        assert_eq!(s.succeeded(), 0);
        s.start_ready();
        s.finish(0, Succeeded);
        s.finish(0, Failed);
        s.finish(0, Succeeded);
        assert_eq!(s.state(0), Succeeded);
        assert_eq!(
            s.succeeded(),
            1,
            "a repeated completion is not counted again"
        );
        assert!(s.finish(7, Failed).is_empty());
        assert_eq!(s.start_ready(), vec![1]);
    }

    #[test]
    fn a_timeout_counts_as_unsuccessful_and_none_holds_when_nothing_succeeded() {
        let mut s = Scheduler::new(&plan(&[(0, &[]), (1, &[])], 2, MergeCondition::None));
        s.start_ready();
        s.finish(0, TimedOut);
        assert_eq!(s.outcome(), None);
        s.finish(1, Failed);
        assert_eq!(s.outcome(), Some(true));
    }
}
