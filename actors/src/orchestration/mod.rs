//! Orchestration (seed 000): DAGs of sub-flow executions with a concurrency cap and a merge
//! condition, completion reported by webhooks (or polling).
//!
//! - `plan`: the plan and its validation (petgraph);
//! - `scheduler`: the run's state machine (readiness, cap, skips, merge, cancellation).

pub mod plan;
pub mod scheduler;

pub use plan::{validate_plan, MergeCondition, Plan, PlanProblem, SubFlow};
pub use scheduler::{decide, Scheduler, SubFlowState};
