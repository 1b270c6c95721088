//! Orchestration (seed 000): DAGs of sub-flow executions with a concurrency cap and a merge
//! condition, completion reported by webhooks (or polling).
//!
//! - `plan`: the plan and its validation (petgraph);
//! - `scheduler`: the run's state machine (readiness, cap, skips, merge, cancellation);
//! - `completions`: the CompletionRouter (webhook events → the waiting sub-flow);
//! - `subflow`: the SubFlowActor (one execution: POST, webhook or poll, timeout);
//! - `run`: the OrchestrationActor (one run) and its report;
//! - `runs`: the RunsActor registry and the store of settled runs.

pub mod completions;
pub mod plan;
mod run;
mod runs;
pub mod scheduler;
mod subflow;

pub use completions::{Completion, CompletionRouter, Delivery, ExecutionStatus};
pub use plan::{validate_plan, MergeCondition, Plan, PlanProblem, SubFlow};
pub use run::{GetRunReport, OrchestrationActor, RunContext, RunReport, RunSettled, SubFlowRecord};
pub use runs::{GetRun, MemoryRunStore, RunStore, RunsActor, StartRun};
pub use scheduler::{decide, Scheduler, SubFlowState};
pub use subflow::{SubFlowActor, SubFlowFinished, Timing};
