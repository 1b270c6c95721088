//! RunsActor: starts runs and answers for them. Active runs are asked for their report;
//! settled runs' reports are kept in a [`RunStore`] (the local one keeps the most recent
//! `orchestration.keep_finished_runs`; a shared store would let replicas answer for each other).

use std::collections::{HashMap, VecDeque};

use actix::prelude::*;

use super::plan::Plan;
use super::run::{GetRunReport, OrchestrationActor, RunContext, RunReport, RunSettled};
use crate::lifecycle::Lifecycle;

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
#[derive(Message, Debug, Clone)]
#[rtype(result = "String")]
pub struct StartRun(pub Plan);

/// Asks for a run's report (`None`: unknown run).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Option<RunReport>")]
pub struct GetRun(pub String);

/// The runs registry. One per process.
pub struct RunsActor {
    make_context: Box<dyn Fn(Recipient<RunSettled>) -> RunContext>,
    active: HashMap<String, Addr<OrchestrationActor>>,
    store: Box<dyn RunStore>,
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
            lifecycle: Lifecycle::new("RunsActor"),
        }
    }
}

impl Actor for RunsActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.lifecycle.started();
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

/// Starts an OrchestrationActor for the plan.
impl Handler<StartRun> for RunsActor {
    type Result = String;

    fn handle(&mut self, msg: StartRun, ctx: &mut Self::Context) -> String {
        let run_id = uuid::Uuid::new_v4().to_string();
        let context = (self.make_context)(ctx.address().recipient());
        let addr = OrchestrationActor::new(run_id.clone(), msg.0, context).start();
        self.active.insert(run_id.clone(), addr);
        run_id
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
