//! OrchestrationActor: one run of a plan. Starts sub-flows as the [`Scheduler`] allows,
//! records every execution (and audits it), and reports to the runs registry once settled.
//!
//! With a state store, every transition is written before it is acted on: the records of the
//! sub-flows a batch of ends changed (ended, skipped, cancelled, made running) are written in
//! one transaction ([`SqlRunReports::save_transitions`]) before the sub-flows made running are
//! posted; ends arriving meanwhile gather into the next batch. A replica that lost the run to
//! another (its lease passed) learns it from that write and stops acting for it.
//!
//! Report (`GET /orchestrations/{run_id}`): `{"run_id", "status": "running"|"completed",
//! "merge_condition", "outcome"?: "satisfied"|"unsatisfied", "sub_flows": [{"sub_flow_id",
//! "execution_id", "status", "http_status", "latency_ms", "started_at", "finished_at",
//! "error"}], "wall_clock_ms", "throughput_per_sec"}` — `completed` once the merge condition is
//! decided (executions still in flight keep being recorded).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use serde_json::json;

use super::completions::CompletionRouter;
use super::plan::{MergeCondition, Plan};
use super::scheduler::{Scheduler, SubFlowState};
use super::subflow::{SubFlowActor, SubFlowFinished, Timing};
use crate::audit::{AuditActor, AuditEvent, AuditOutcome};
use crate::cxone::{CxoneClient, CxoneHandle};
use crate::store::runs::{RunSnapshot, SqlRunReports};
use crate::store::writer::LatestWriter;

/// One sub-flow in a report.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, utoipa::ToSchema)]
pub struct SubFlowRecord {
    /// The sub-flow (Data Action) id.
    pub sub_flow_id: String,
    /// Its execution, once the POST was answered.
    pub execution_id: Option<String>,
    /// Its state.
    pub status: SubFlowState,
    /// HTTP status of the execution POST.
    pub http_status: Option<u16>,
    /// Milliseconds from the POST to the end.
    pub latency_ms: Option<u64>,
    /// RFC 3339 start (the POST), when started.
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    /// RFC 3339 end, when terminal.
    #[schema(format = DateTime)]
    pub finished_at: Option<String>,
    /// Why it did not succeed.
    pub error: Option<String>,
}

/// A run's report.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct RunReport {
    /// The run.
    pub run_id: String,
    /// `running` or `completed` (merge condition decided).
    #[schema(value_type = String, pattern = "^(running|completed)$")]
    pub status: &'static str,
    /// The plan's merge condition.
    pub merge_condition: MergeCondition,
    /// `satisfied` or `unsatisfied`, once decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(satisfied|unsatisfied)$")]
    pub outcome: Option<&'static str>,
    /// Every sub-flow, in plan order.
    pub sub_flows: Vec<SubFlowRecord>,
    /// Milliseconds from the start to the last recorded end (or now while running).
    pub wall_clock_ms: u64,
    /// Successful executions per second of wall clock.
    pub throughput_per_sec: f64,
    /// Whether every execution in flight has been recorded too.
    pub settled: bool,
}

/// Asks a run for its report.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "RunReport")]
pub struct GetRunReport;

/// The replica stops: the run stops acting at once and leaves its state to the store, where
/// another replica (or this one restarted) resumes it ([`RunsActor`](super::RunsActor)'s
/// `ReleaseRuns`).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct ReleaseRun;

/// A run settled: its final report, for the registry.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RunSettled(pub RunReport);

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// What a run needs from the service.
#[derive(Clone)]
pub struct RunContext {
    /// CXone access.
    pub cxone: CxoneHandle,
    /// Completion routing.
    pub router: Addr<CompletionRouter>,
    /// Where settled runs go.
    pub settled: Recipient<RunSettled>,
    /// Audit log.
    pub audit: Option<Addr<AuditActor>>,
    /// Polling and timeout.
    pub timing: Timing,
    /// Where the run writes its transitions before acting on them, and its report at its
    /// start, every `SNAPSHOT_INTERVAL` (200 ms) while it changes and once settled (so any replica
    /// can answer for it and resume it), with this replica's id; `None`: kept in this
    /// process only.
    pub reports: Option<(SqlRunReports, String)>,
}

/// One run.
pub struct OrchestrationActor {
    run_id: String,
    plan: Plan,
    scheduler: Scheduler,
    records: Vec<SubFlowRecord>,
    context: RunContext,
    client: Option<CxoneClient>,
    started: Instant,
    last_end: Option<Instant>,
    snapshots: Option<LatestWriter<RunSnapshot>>,
    /// Whether the report changed since the last snapshot.
    snapshot_due: bool,
    /// Sub-flows whose record changed since the last transition write.
    unsaved: BTreeSet<usize>,
    /// Sub-flows made running, to be posted once their transition is written.
    launches: Vec<usize>,
    /// Whether a transition write is in flight.
    writing: bool,
}

/// Delay before a transition write that failed is tried again (the run waits meanwhile).
pub const TRANSITION_RETRY: Duration = Duration::from_secs(1);

/// How often a running run writes its report to the state store when it changed (and once
/// at its start and when it settles). A report is O(sub-flows): writing one per transition
/// would make a run O(sub-flows²).
pub const SNAPSHOT_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

impl OrchestrationActor {
    /// A run of a validated plan.
    pub fn new(run_id: String, plan: Plan, context: RunContext) -> Self {
        let records = plan
            .sub_flows
            .iter()
            .map(|s| SubFlowRecord {
                sub_flow_id: s.id.clone(),
                execution_id: None,
                status: SubFlowState::Pending,
                http_status: None,
                latency_ms: None,
                started_at: None,
                finished_at: None,
                error: None,
            })
            .collect();
        OrchestrationActor {
            run_id,
            scheduler: Scheduler::new(&plan),
            plan,
            records,
            context,
            client: None,
            started: Instant::now(),
            last_end: None,
            snapshots: None,
            snapshot_due: false,
            unsaved: BTreeSet::new(),
            launches: Vec::new(),
            writing: false,
        }
    }

    /// A run resumed from its last snapshot (its replica stopped before it settled): the
    /// recorded ends of executions are kept and replayed into the scheduler; every other
    /// sub-flow (running or pending when the snapshot was written) is pending again. A
    /// sub-flow that had been started is POSTed again with the same `Idempotency-Key`, so
    /// CXone answers with the execution it started then, which is awaited as usual.
    pub fn resume(
        run_id: String,
        plan: Plan,
        recorded: Vec<SubFlowRecord>,
        context: RunContext,
    ) -> Self {
        let mut run = OrchestrationActor::new(run_id, plan, context);
        // Replayed in the order they ended (RFC 3339 UTC times sort as text), as they
        // happened: the merge decision falls where it fell.
        let mut recorded: Vec<(usize, SubFlowRecord)> = recorded
            .into_iter()
            .enumerate()
            .filter(|(i, r)| {
                run.records
                    .get(*i)
                    .is_some_and(|o| o.sub_flow_id == r.sub_flow_id)
            })
            .collect();
        recorded.sort_by(|(_, a), (_, b)| a.finished_at.cmp(&b.finished_at));
        for (i, record) in recorded {
            let replayable = matches!(
                record.status,
                SubFlowState::Succeeded | SubFlowState::Failed | SubFlowState::TimedOut
            );
            if !replayable {
                continue;
            }
            let changed = run.scheduler.replay(i, record.status);
            run.mark_consequences(changed, record.finished_at.as_deref());
            run.records[i] = record;
        }
        run
    }

    /// The run settled: its last snapshot and its report to the registry, then it stops.
    fn settle(&mut self, ctx: &mut Context<Self>) {
        let report = self.report();
        self.snapshot_of(&report);
        self.context.settled.do_send(RunSettled(report));
        ctx.stop();
    }

    /// Records the sub-flows a sub-flow's end skipped or cancelled, as ended at `at`.
    fn mark_consequences(&mut self, changed: Vec<(usize, SubFlowState)>, at: Option<&str>) {
        for (i, state) in changed {
            let r = &mut self.records[i];
            r.status = state;
            r.finished_at = at.map(str::to_string);
            r.error = Some(match state {
                SubFlowState::Skipped => "a dependency did not succeed".to_string(),
                _ => "the merge condition was decided before it started".to_string(),
            });
        }
    }

    /// The report as JSON, as `GET /orchestrations/{id}` answers it.
    pub fn report_value(&self) -> serde_json::Value {
        serde_json::to_value(self.report()).unwrap_or_default()
    }

    /// Hands the current report to the snapshot writer (the run does not wait for it).
    fn snapshot(&mut self) {
        let report = self.report();
        self.snapshot_of(&report);
    }

    /// Hands `report` (the current one) to the snapshot writer.
    fn snapshot_of(&mut self, report: &RunReport) {
        self.snapshot_due = false;
        let Some((reports, owner)) = &self.context.reports else {
            return;
        };
        let snapshot = RunSnapshot {
            run_id: self.run_id.clone(),
            owner: owner.clone(),
            settled: report.settled,
            report: serde_json::to_value(report).unwrap_or_default(),
        };
        let writer = self.snapshots.get_or_insert_with(|| {
            let reports = reports.clone();
            LatestWriter::new(
                "run report",
                Arc::new(move |s| {
                    let reports = reports.clone();
                    Box::pin(async move { reports.save(s).await })
                }),
            )
        });
        writer.save(snapshot);
    }

    /// Marks the sub-flows the scheduler lets start as running, and commits.
    fn launch(&mut self, ctx: &mut Context<Self>) {
        for i in self.scheduler.start_ready() {
            let record = &mut self.records[i];
            record.status = SubFlowState::Running;
            record.started_at = Some(now_rfc3339());
            self.unsaved.insert(i);
            self.launches.push(i);
        }
        self.commit(ctx);
    }

    /// Writes the unsaved transitions, then posts the sub-flows they made running; without
    /// a state store, posts them at once. One write at a time: what changes meanwhile goes in
    /// the next.
    fn commit(&mut self, ctx: &mut Context<Self>) {
        let Some((reports, owner)) = self.context.reports.clone() else {
            self.unsaved.clear();
            let ready = std::mem::take(&mut self.launches);
            return self.post(ready, ctx);
        };
        if self.writing || (self.unsaved.is_empty() && self.launches.is_empty()) {
            return;
        }
        let positions: Vec<usize> = std::mem::take(&mut self.unsaved).into_iter().collect();
        let launches = std::mem::take(&mut self.launches);
        let records: Vec<(usize, serde_json::Value)> = positions
            .iter()
            .map(|&i| {
                (
                    i,
                    serde_json::to_value(&self.records[i]).unwrap_or_default(),
                )
            })
            .collect();
        self.writing = true;
        let run_id = self.run_id.clone();
        ctx.spawn(
            async move { reports.save_transitions(&run_id, &owner, &records).await }
                .into_actor(self)
                .map(move |saved, act, ctx| {
                    act.writing = false;
                    match saved {
                        Ok(true) => {
                            act.post(launches, ctx);
                            act.commit(ctx);
                        }
                        Ok(false) => {
                            log::warn!(
                                "actor=OrchestrationActor event=run_lost run_id={}; another replica claimed it",
                                act.run_id
                            );
                            ctx.stop();
                        }
                        Err(e) => {
                            log::warn!(
                                "actor=OrchestrationActor event=transition_not_written run_id={} error={e}",
                                act.run_id
                            );
                            act.unsaved.extend(positions);
                            act.launches.splice(0..0, launches);
                            ctx.run_later(TRANSITION_RETRY, |act, ctx| act.commit(ctx));
                        }
                    }
                }),
        );
    }

    /// Posts the executions of sub-flows `ready` (each a SubFlowActor).
    fn post(&mut self, ready: Vec<usize>, ctx: &mut Context<Self>) {
        if ready.is_empty() {
            return;
        }
        let client = self
            .client
            .get_or_insert_with(|| self.context.cxone.client())
            .clone();
        for i in ready {
            let sub_flow = &self.plan.sub_flows[i];
            SubFlowActor::new(
                i,
                sub_flow.id.clone(),
                self.run_id.clone(),
                sub_flow.input_data.clone(),
                ctx.address().recipient(),
                client.clone(),
                self.context.router.clone(),
                self.context.timing,
            )
            .start();
        }
    }

    fn report(&self) -> RunReport {
        let end = if self.scheduler.is_settled() {
            self.last_end
        } else {
            None
        };
        let wall = end
            .unwrap_or_else(Instant::now)
            .duration_since(self.started);
        RunReport {
            run_id: self.run_id.clone(),
            status: if self.scheduler.outcome().is_some() {
                "completed"
            } else {
                "running"
            },
            merge_condition: self.plan.merge_condition,
            outcome: self
                .scheduler
                .outcome()
                .map(|ok| if ok { "satisfied" } else { "unsatisfied" }),
            sub_flows: self.records.clone(),
            wall_clock_ms: wall.as_millis() as u64,
            throughput_per_sec: self.scheduler.succeeded() as f64 / wall.as_secs_f64().max(1e-9),
            settled: self.scheduler.is_settled(),
        }
    }

    fn audit(&self, record: &SubFlowRecord) {
        let Some(audit) = &self.context.audit else {
            return;
        };
        let mut event = AuditEvent::now(
            "OrchestrationActor",
            "execution",
            self.run_id.clone(),
            record.sub_flow_id.clone(),
        );
        event.http_status = record.http_status;
        event.latency_ms = record.latency_ms.unwrap_or(0);
        if record.status != SubFlowState::Succeeded {
            event.outcome = AuditOutcome::Failed;
            event.error = record
                .error
                .clone()
                .or_else(|| Some(format!("{:?}", record.status).to_lowercase()));
        }
        event.details = Some(
            json!({"run_id": self.run_id, "execution_id": record.execution_id, "status": record.status}),
        );
        audit.do_send(event);
    }
}

impl Actor for OrchestrationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        log::info!(
            "actor=OrchestrationActor event=started run_id={} sub_flows={} concurrency_max={}",
            self.run_id,
            self.plan.sub_flows.len(),
            self.plan.concurrency_max
        );
        self.launch(ctx);
        if self.scheduler.is_settled() {
            // A resumed run whose every sub-flow had ended.
            return self.settle(ctx);
        }
        self.snapshot();
        if self.context.reports.is_some() {
            ctx.run_interval(SNAPSHOT_INTERVAL, |act, _| {
                let idle = act.snapshots.as_ref().is_none_or(|w| !w.busy());
                if act.snapshot_due && idle {
                    act.snapshot();
                }
            });
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        log::info!(
            "actor=OrchestrationActor event=stopping run_id={}",
            self.run_id
        );
        Running::Stop
    }
}

/// Records a sub-flow's end, propagates skips and cancellations, starts what became ready.
impl Handler<SubFlowFinished> for OrchestrationActor {
    type Result = ();

    fn handle(&mut self, msg: SubFlowFinished, ctx: &mut Self::Context) {
        let Some(record) = self.records.get_mut(msg.index) else {
            return;
        };
        if record.status != SubFlowState::Running {
            return;
        }
        let now = now_rfc3339();
        record.status = msg.state;
        record.execution_id = msg.execution_id;
        record.http_status = msg.http_status;
        record.latency_ms = Some(msg.latency_ms);
        record.finished_at = Some(now.clone());
        record.error = msg.error;
        let record = record.clone();
        self.audit(&record);
        self.unsaved.insert(msg.index);
        let was_decided = self.scheduler.outcome().is_some();
        let changed = self.scheduler.finish(msg.index, msg.state);
        self.unsaved.extend(changed.iter().map(|(i, _)| *i));
        self.mark_consequences(changed, Some(&now));
        self.last_end = Some(Instant::now());
        if !was_decided {
            if let Some(ok) = self.scheduler.outcome() {
                log::info!(
                    "actor=OrchestrationActor event=decided run_id={} outcome={}",
                    self.run_id,
                    if ok { "satisfied" } else { "unsatisfied" }
                );
            }
        }
        self.launch(ctx);
        self.snapshot_due = true;
        if self.scheduler.is_settled() {
            self.settle(ctx);
        }
    }
}

/// Stops the run without settling it.
impl Handler<ReleaseRun> for OrchestrationActor {
    type Result = ();

    fn handle(&mut self, _: ReleaseRun, ctx: &mut Self::Context) {
        log::info!(
            "actor=OrchestrationActor event=released run_id={}",
            self.run_id
        );
        ctx.stop();
    }
}

/// The current report.
impl Handler<GetRunReport> for OrchestrationActor {
    type Result = MessageResult<GetRunReport>;

    fn handle(&mut self, _: GetRunReport, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.report())
    }
}
