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
pub use run::{
    GetRunReport, OrchestrationActor, ReleaseRun, RunContext, RunReport, RunSettled, SubFlowRecord,
};
pub use runs::{
    DurableRuns, GetRun, MemoryRunStore, ReleaseRuns, RunStore, RunsActor, StartRun,
    SETTLED_RUNS_CLEANUP,
};
pub use scheduler::{decide, Scheduler, SubFlowState};
pub use subflow::{SubFlowActor, SubFlowFinished, Timing};

use std::time::Duration;

use actix::{Addr, Supervisor};

use crate::audit::AuditActor;
use crate::cxone::CxoneHandle;
use crate::settings::OrchestrationSettings;

/// Polling and timeout of sub-flow executions: `orchestration.poll_after_ms`,
/// `poll_interval_ms` and `execution_timeout_secs`.
impl From<&OrchestrationSettings> for Timing {
    fn from(o: &OrchestrationSettings) -> Self {
        Timing {
            poll_after: Duration::from_millis(o.poll_after_ms),
            poll_interval: Duration::from_millis(o.poll_interval_ms),
            timeout: Duration::from_secs(o.execution_timeout_secs),
        }
    }
}

/// Starts the supervised completion router and runs registry for `settings`: runs call CXone
/// through `cxone` and audit to `audit`; with `durable`, they are recorded in the state store
/// (plan, lease of `orchestration.lease_secs`, snapshots of their report) and resumed by any
/// replica when their owner stops, and completion events are stored and shared by every
/// replica (see [`CompletionRouter::with_store`]); the last `orchestration.keep_finished_runs` reports are
/// also kept in memory.
pub fn start(
    settings: &OrchestrationSettings,
    cxone: &CxoneHandle,
    audit: Option<&Addr<AuditActor>>,
    durable: Option<DurableRuns>,
) -> (Addr<RunsActor>, Addr<CompletionRouter>) {
    let stored = durable.as_ref().map(|d| d.completions.clone());
    let completions = Supervisor::start(move |_| match &stored {
        Some(stored) => CompletionRouter::with_store(stored.clone()),
        None => CompletionRouter::default(),
    });
    let timing = Timing::from(settings);
    let keep = settings.keep_finished_runs;
    let (cxone, router, audit) = (cxone.clone(), completions.clone(), audit.cloned());
    let reports = durable
        .as_ref()
        .map(|d| (d.reports.clone(), d.owner.clone()));
    let runs = Supervisor::start(move |_| {
        let runs = RunsActor::new(
            move |settled| RunContext {
                cxone: cxone.clone(),
                router: router.clone(),
                settled,
                audit: audit.clone(),
                timing,
                reports: reports.clone(),
            },
            Box::new(MemoryRunStore::new(keep)),
        );
        match durable {
            Some(durable) => runs.with_durable_runs(durable),
            None => runs,
        }
    });
    (runs, completions)
}
