//! SubFlowActor: one execution of one sub-flow. POSTs the execution (through the CXone
//! client: token, rate limit, 429 backoff), watches for its completion webhook through the
//! [`CompletionRouter`], polls the execution status after `orchestration.poll_after_ms`
//! every `orchestration.poll_interval_ms` when no webhook came, and gives up as `timed_out`
//! after `orchestration.execution_timeout_secs`. Reports once to its run, then stops.

use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::Value;

use super::completions::{CompletionRouter, ExecutionCompleted, ExecutionStatus, Unwatch, Watch};
use super::scheduler::SubFlowState;
use crate::cxone::{api, CxoneClient};

/// When to poll and give up.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Delay before the first poll.
    pub poll_after: Duration,
    /// Interval between polls.
    pub poll_interval: Duration,
    /// Longest an execution may run.
    pub timeout: Duration,
}

/// A sub-flow's outcome, sent to its run.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct SubFlowFinished {
    /// Index of the sub-flow in the plan.
    pub index: usize,
    /// Terminal state.
    pub state: SubFlowState,
    /// The execution, when the POST was answered.
    pub execution_id: Option<String>,
    /// HTTP status of the execution POST.
    pub http_status: Option<u16>,
    /// Milliseconds from the POST to the end.
    pub latency_ms: u64,
    /// Why it failed.
    pub error: Option<String>,
}

/// One execution.
pub struct SubFlowActor {
    index: usize,
    data_action_id: String,
    run_id: String,
    input: Value,
    run: Recipient<SubFlowFinished>,
    client: CxoneClient,
    router: Addr<CompletionRouter>,
    timing: Timing,
    started: Instant,
    execution_id: Option<String>,
    http_status: Option<u16>,
    done: bool,
}

impl SubFlowActor {
    /// An execution of sub-flow `index` (Data Action `data_action_id`) for run `run_id`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        index: usize,
        data_action_id: String,
        run_id: String,
        input: Value,
        run: Recipient<SubFlowFinished>,
        client: CxoneClient,
        router: Addr<CompletionRouter>,
        timing: Timing,
    ) -> Self {
        SubFlowActor {
            index,
            data_action_id,
            run_id,
            input,
            run,
            client,
            router,
            timing,
            started: Instant::now(),
            execution_id: None,
            http_status: None,
            done: false,
        }
    }

    fn finish(&mut self, state: SubFlowState, error: Option<String>, ctx: &mut Context<Self>) {
        if self.done {
            return;
        }
        self.done = true;
        if let Some(id) = &self.execution_id {
            self.router.do_send(Unwatch {
                execution_id: id.clone(),
            });
        }
        self.run.do_send(SubFlowFinished {
            index: self.index,
            state,
            execution_id: self.execution_id.clone(),
            http_status: self.http_status,
            latency_ms: self.started.elapsed().as_millis() as u64,
            error,
        });
        ctx.stop();
    }

    /// Finishes with the execution's own outcome (from its webhook or a poll).
    fn completed(&mut self, status: ExecutionStatus, ctx: &mut Context<Self>) {
        match status {
            ExecutionStatus::Succeeded => self.finish(SubFlowState::Succeeded, None, ctx),
            ExecutionStatus::Failed => self.finish(
                SubFlowState::Failed,
                Some("the execution failed".into()),
                ctx,
            ),
        }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        let Some(id) = self.execution_id.clone() else {
            return;
        };
        let (client, run_id) = (self.client.clone(), self.run_id.clone());
        ctx.spawn(
            async move { api::execution_status(&client, &id, &run_id).await }
                .into_actor(self)
                .map(|result, act, ctx| {
                    let status = result
                        .ok()
                        .and_then(|r| serde_json::from_slice::<Value>(&r.body).ok())
                        .and_then(|v| v["status"].as_str().and_then(ExecutionStatus::parse));
                    match status {
                        Some(status) => act.completed(status, ctx),
                        None => {
                            ctx.run_later(act.timing.poll_interval, |act, ctx| act.poll(ctx));
                        }
                    }
                }),
        );
    }
}

impl Actor for SubFlowActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_later(self.timing.timeout, |act, ctx| {
            let secs = act.timing.timeout.as_secs();
            act.finish(
                SubFlowState::TimedOut,
                Some(format!("still running after {secs} s")),
                ctx,
            );
        });
        let client = self.client.clone();
        let (id, run_id) = (self.data_action_id.clone(), self.run_id.clone());
        let input = self.input.clone();
        ctx.spawn(
            async move { api::start_execution(&client, &id, &run_id, &input).await }
                .into_actor(self)
                .map(|result, act, ctx| match result {
                    Ok(resp) => {
                        act.http_status = Some(resp.status);
                        let from_body = serde_json::from_slice::<Value>(&resp.body)
                            .ok()
                            .and_then(|v| v["execution_id"].as_str().map(String::from));
                        let from_location = resp
                            .location
                            .as_deref()
                            .and_then(|l| l.rsplit('/').next())
                            .filter(|s| !s.is_empty())
                            .map(String::from);
                        match from_body.or(from_location) {
                            Some(id) => {
                                act.execution_id = Some(id.clone());
                                act.router.do_send(Watch {
                                    execution_id: id,
                                    recipient: ctx.address().recipient(),
                                });
                                ctx.run_later(act.timing.poll_after, |act, ctx| act.poll(ctx));
                            }
                            None => act.finish(
                                SubFlowState::Failed,
                                Some("the execution answer has no execution id".into()),
                                ctx,
                            ),
                        }
                    }
                    Err(e) => {
                        act.http_status = e.status();
                        act.finish(SubFlowState::Failed, Some(e.to_string()), ctx);
                    }
                }),
        );
    }
}

/// The completion webhook arrived.
impl Handler<ExecutionCompleted> for SubFlowActor {
    type Result = ();

    fn handle(&mut self, msg: ExecutionCompleted, ctx: &mut Self::Context) {
        self.completed(msg.status, ctx);
    }
}
