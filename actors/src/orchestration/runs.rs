//! RunsActor: starts runs and answers for them. Active runs are asked for their report;
//! settled runs' reports are kept in a [`RunStore`] (the local one keeps the most recent
//! `orchestration.keep_finished_runs`). With durable runs, the state store keeps them too and
//! answers for other replicas' runs; settled runs beyond the same number are deleted there at
//! start and every [`SETTLED_RUNS_CLEANUP`].

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use actix::prelude::*;
use serde_json::Value;

use super::plan::{validate_plan, Plan};
use super::run::{
    GetRunReport, OrchestrationActor, ReleaseRun, RunContext, RunReport, RunSettled, SubFlowRecord,
};
use crate::lifecycle::Lifecycle;
use crate::store::error::StoreError;
use crate::store::runs::{RunSnapshot, SqlRunReports};
use crate::store::SqlCompletions;
use crate::store::{millis, now_millis};

/// Where settled runs' reports are kept.
pub trait RunStore: Send {
    /// Keeps a report.
    fn put(&mut self, report: RunReport);
    /// A kept report.
    fn get(&self, run_id: &str) -> Option<RunReport>;
}

/// In-process store of the most recent reports.
pub struct MemoryRunStore {
    capacity: usize,
    reports: HashMap<String, RunReport>,
    order: VecDeque<String>,
}

impl MemoryRunStore {
    /// A store of at most `capacity` (at least 1) reports.
    pub fn new(capacity: usize) -> Self {
        MemoryRunStore {
            capacity: capacity.max(1),
            reports: HashMap::new(),
            order: VecDeque::new(),
        }
    }
}

impl RunStore for MemoryRunStore {
    fn put(&mut self, report: RunReport) {
        while self.order.len() >= self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.reports.remove(&old);
            }
        }
        self.order.push_back(report.run_id.clone());
        self.reports.insert(report.run_id.clone(), report);
    }

    fn get(&self, run_id: &str) -> Option<RunReport> {
        self.reports.get(run_id).cloned()
    }
}

/// Starts a run of a validated plan; answers its id.
///
/// Errors: with a state store, the run could not be recorded there (nothing started).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<String, StoreError>")]
pub struct StartRun(pub Plan);

/// Where runs are recorded so that they survive this process: the store, this replica's id,
/// and the lease its heartbeat keeps renewing (`orchestration.lease_secs`).
#[derive(Clone)]
pub struct DurableRuns {
    /// Runs in the state store.
    pub reports: SqlRunReports,
    /// Completion events no sub-flow of this replica waited for, in the state store.
    pub completions: SqlCompletions,
    /// This replica.
    pub owner: String,
    /// How long a run stays this replica's without a heartbeat.
    pub lease: Duration,
    /// Settled runs kept in the store (`orchestration.keep_finished_runs`): older ones are
    /// deleted at start and every [`SETTLED_RUNS_CLEANUP`].
    pub keep_settled: usize,
}

/// How often the settled runs beyond `orchestration.keep_finished_runs` are deleted from
/// the state store (and once at start).
pub const SETTLED_RUNS_CLEANUP: Duration = Duration::from_secs(60);

impl DurableRuns {
    fn lease_until(&self) -> i64 {
        now_millis().saturating_add(millis(self.lease))
    }
}

/// Runs claimed per heartbeat at most.
pub const CLAIMS_PER_HEARTBEAT: usize = 100;

/// The replica stops (graceful stop): its runs stop acting, its heartbeat stops, and their
/// leases end at once in the store, so another replica resumes them at its next heartbeat;
/// answers how many runs were handed over (0 without durable runs).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<u64, StoreError>")]
pub struct ReleaseRuns;

/// Asks for a run's report (`None`: unknown run).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Option<RunReport>")]
pub struct GetRun(pub String);

/// The runs registry. One per process.
pub struct RunsActor {
    make_context: Box<dyn Fn(Recipient<RunSettled>) -> RunContext>,
    active: HashMap<String, Addr<OrchestrationActor>>,
    store: Box<dyn RunStore>,
    durable: Option<DurableRuns>,
    /// Set by [`ReleaseRuns`]: no more heartbeats, renewals or claims.
    released: bool,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl RunsActor {
    /// A registry; `make_context` builds what runs need, given where they report settling.
    pub fn new(
        make_context: impl Fn(Recipient<RunSettled>) -> RunContext + 'static,
        store: Box<dyn RunStore>,
    ) -> Self {
        RunsActor {
            make_context: Box::new(make_context),
            active: HashMap::new(),
            store,
            durable: None,
            released: false,
            lifecycle: Lifecycle::new("RunsActor"),
        }
    }

    /// Records runs in the state store before they start, renews their lease every third
    /// of it, and resumes the runs whose lease passed unsettled (another replica's, or this
    /// process's predecessor's): at start and at every heartbeat.
    pub fn with_durable_runs(mut self, durable: DurableRuns) -> Self {
        self.durable = Some(durable);
        self
    }

    /// Renews this replica's leases, then claims and resumes expired runs.
    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        let Some(durable) = self.durable.clone() else {
            return;
        };
        if self.released {
            return;
        }
        // A run that stopped without settling lost its lease to another replica.
        self.active.retain(|_, run| run.connected());
        let active: Vec<String> = self.active.keys().cloned().collect();
        let work = async move {
            let until = durable.lease_until();
            durable
                .reports
                .renew(&durable.owner, &active, until)
                .await?;
            durable
                .reports
                .claim_expired(&durable.owner, until, CLAIMS_PER_HEARTBEAT)
                .await
        };
        ctx.spawn(
            work.into_actor(self)
                .map(|claimed, act, ctx| match claimed {
                    // Claimed while the replica was being released: hand them over too.
                    Ok(claimed) if act.released && !claimed.is_empty() => {
                        ctx.spawn(
                            fut::wrap_future(release(act.durable.clone()))
                                .map(|_: Result<u64, StoreError>, _, _| {}),
                        );
                    }
                    Ok(claimed) => {
                        for (run_id, plan, report) in claimed {
                            act.resume(run_id, &plan, &report, ctx);
                        }
                    }
                    Err(e) => log::warn!("actor=RunsActor event=heartbeat_failed error={e}"),
                }),
        );
    }

    /// Starts a claimed run again from its plan and last report.
    fn resume(&mut self, run_id: String, plan: &Value, report: &Value, ctx: &mut Context<Self>) {
        if self.active.contains_key(&run_id) {
            return;
        }
        let plan = match validate_plan(plan, usize::MAX) {
            Ok(plan) => plan,
            Err(problems) => {
                log::error!(
                    "actor=RunsActor event=resume_failed run_id={run_id} problems={}",
                    problems.len()
                );
                return;
            }
        };
        let recorded: Vec<SubFlowRecord> =
            serde_json::from_value(report["sub_flows"].clone()).unwrap_or_default();
        let done = recorded.iter().filter(|r| r.status.is_terminal()).count();
        log::info!(
            "actor=RunsActor event=run_resumed run_id={run_id} sub_flows={} recorded_ended={done}",
            plan.sub_flows.len()
        );
        let context = (self.make_context)(ctx.address().recipient());
        let addr = OrchestrationActor::resume(run_id.clone(), plan, recorded, context).start();
        self.active.insert(run_id, addr);
    }
}

impl Actor for RunsActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.lifecycle.started();
        if let Some(durable) = self.durable.clone() {
            let every = (durable.lease / 3).max(Duration::from_millis(100));
            self.heartbeat(ctx);
            ctx.run_interval(every, |act, ctx| act.heartbeat(ctx));
            let (reports, keep) = (durable.reports, durable.keep_settled);
            let forget = move || {
                let reports = reports.clone();
                async move {
                    match reports.forget_settled_beyond(keep).await {
                        Ok(0) => {}
                        Ok(n) => log::info!(
                            "actor=RunsActor event=settled_runs_forgotten count={n} kept={keep}"
                        ),
                        Err(e) => log::warn!("actor=RunsActor event=cleanup_failed error={e}"),
                    }
                }
            };
            ctx.spawn(fut::wrap_future(forget()));
            ctx.run_interval(SETTLED_RUNS_CLEANUP, move |_, ctx| {
                ctx.spawn(fut::wrap_future(forget()));
            });
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        Running::Stop
    }
}

impl Supervised for RunsActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.lifecycle.restarted();
    }
}

crate::handle_stop_actor!(RunsActor);

/// Starts an OrchestrationActor for the plan — with a state store, once the run is recorded
/// there (plan, owner, lease, first report).
impl Handler<StartRun> for RunsActor {
    type Result = ResponseActFuture<Self, Result<String, StoreError>>;

    fn handle(&mut self, msg: StartRun, ctx: &mut Self::Context) -> Self::Result {
        let run_id = uuid::Uuid::new_v4().to_string();
        let context = (self.make_context)(ctx.address().recipient());
        let plan_json = serde_json::to_value(&msg.0).unwrap_or_default();
        let run = OrchestrationActor::new(run_id.clone(), msg.0, context);
        let record = self.durable.clone().map(|durable| {
            let snapshot = RunSnapshot {
                run_id: run_id.clone(),
                owner: durable.owner.clone(),
                settled: false,
                report: run.report_value(),
            };
            (durable, snapshot)
        });
        let recorded = async move {
            match record {
                Some((durable, snapshot)) => {
                    let until = durable.lease_until();
                    durable.reports.create(snapshot, &plan_json, until).await
                }
                None => Ok(()),
            }
        };
        Box::pin(recorded.into_actor(self).map(move |recorded, act, _| {
            recorded?;
            let addr = run.start();
            act.active.insert(run_id.clone(), addr);
            Ok(run_id)
        }))
    }
}

/// Keeps a settled run's report.
impl Handler<RunSettled> for RunsActor {
    type Result = ();

    fn handle(&mut self, msg: RunSettled, _: &mut Self::Context) {
        self.active.remove(&msg.0.run_id);
        self.store.put(msg.0);
    }
}

/// Ends this replica's leases in the store (see [`ReleaseRuns`]).
async fn release(durable: Option<DurableRuns>) -> Result<u64, StoreError> {
    match durable {
        Some(d) => d.reports.release(&d.owner).await,
        None => Ok(0),
    }
}

/// Stops the runs and hands them over (see [`ReleaseRuns`]).
impl Handler<ReleaseRuns> for RunsActor {
    type Result = ResponseFuture<Result<u64, StoreError>>;

    fn handle(&mut self, _: ReleaseRuns, _: &mut Self::Context) -> Self::Result {
        self.released = true;
        for (_, run) in self.active.drain() {
            run.do_send(ReleaseRun);
        }
        Box::pin(release(self.durable.clone()))
    }
}

/// Answers a run's report, asking the run itself while it is active.
impl Handler<GetRun> for RunsActor {
    type Result = ResponseFuture<Option<RunReport>>;

    fn handle(&mut self, msg: GetRun, _: &mut Self::Context) -> Self::Result {
        if let Some(report) = self.store.get(&msg.0) {
            return Box::pin(async move { Some(report) });
        }
        let active = self.active.get(&msg.0).cloned();
        Box::pin(async move { active?.send(GetRunReport).await.ok() })
    }
}
