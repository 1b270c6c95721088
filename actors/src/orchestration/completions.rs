//! CompletionRouter: routes execution-completion webhooks (`POST /cxone/webhook`) to the
//! SubFlowActor waiting for that execution. Events are idempotent: a repeated `event_id`, or
//! a second completion of an execution already completed, is ignored. An event may arrive
//! before the execution POST has answered: it is buffered (bounded, at most
//! [`EARLY_CAPACITY`] for [`EARLY_TTL`]) and delivered when the sub-flow starts watching.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::lifecycle::Lifecycle;

/// Early events buffered at most.
pub const EARLY_CAPACITY: usize = 100_000;
/// How long an early event is kept.
pub const EARLY_TTL: Duration = Duration::from_secs(600);
/// Event ids and completed executions remembered for dedupe.
pub const SEEN_CAPACITY: usize = 200_000;

/// How an execution ended, as a completion event or a status poll says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    /// `completed` / `succeeded`.
    Succeeded,
    /// `failed`.
    Failed,
}

impl ExecutionStatus {
    /// A terminal status as an event or a poll spells it: `succeeded` or `completed`, or
    /// `failed`; `None` for anything else (still running, unknown).
    pub fn parse(status: &str) -> Option<Self> {
        match status {
            "succeeded" | "completed" => Some(ExecutionStatus::Succeeded),
            "failed" => Some(ExecutionStatus::Failed),
            _ => None,
        }
    }
}

/// Delivered to the watcher of an execution.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct ExecutionCompleted {
    /// The execution.
    pub execution_id: String,
    /// Its outcome.
    pub status: ExecutionStatus,
}

/// A sub-flow waits for its execution's completion.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct Watch {
    /// The execution.
    pub execution_id: String,
    /// Who to tell.
    pub recipient: Recipient<ExecutionCompleted>,
}

/// A sub-flow no longer waits (it finished by polling or timed out).
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Unwatch {
    /// The execution.
    pub execution_id: String,
}

/// A completion event from the webhook.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Delivery")]
pub struct Completion {
    /// The event's id (dedupe key).
    pub event_id: String,
    /// The execution.
    pub execution_id: String,
    /// Its outcome.
    pub status: ExecutionStatus,
}

/// What happened to a [`Completion`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Delivered to the waiting sub-flow.
    Delivered,
    /// Nobody waits yet: buffered.
    Buffered,
    /// Seen before (same event, or the execution already completed): ignored.
    Duplicate,
}

/// A bounded set remembering the most recent keys.
#[derive(Default)]
struct Recent {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Recent {
    /// Inserts; false when already present.
    fn insert(&mut self, key: &str) -> bool {
        if self.set.contains(key) {
            return false;
        }
        if self.order.len() >= SEEN_CAPACITY {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        self.set.insert(key.to_string());
        self.order.push_back(key.to_string());
        true
    }
}

/// The router. One per process.
pub struct CompletionRouter {
    waiting: HashMap<String, Recipient<ExecutionCompleted>>,
    early: HashMap<String, (ExecutionStatus, Instant)>,
    early_order: VecDeque<String>,
    events: Recent,
    completed: Recent,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl Default for CompletionRouter {
    fn default() -> Self {
        CompletionRouter {
            waiting: HashMap::new(),
            early: HashMap::new(),
            early_order: VecDeque::new(),
            events: Recent::default(),
            completed: Recent::default(),
            lifecycle: Lifecycle::new("CompletionRouter"),
        }
    }
}

impl CompletionRouter {
    fn buffer(&mut self, execution_id: String, status: ExecutionStatus) {
        let now = Instant::now();
        while let Some(front) = self.early_order.front() {
            let stale = self
                .early
                .get(front)
                .is_none_or(|(_, at)| now.duration_since(*at) > EARLY_TTL);
            if !(stale || self.early.len() >= EARLY_CAPACITY) {
                break;
            }
            if let Some(old) = self.early_order.pop_front() {
                self.early.remove(&old);
            }
        }
        self.early.insert(execution_id.clone(), (status, now));
        self.early_order.push_back(execution_id);
    }
}

impl Actor for CompletionRouter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.lifecycle.started();
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        Running::Stop
    }
}

impl Supervised for CompletionRouter {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.lifecycle.restarted();
    }
}

crate::handle_stop_actor!(CompletionRouter);

/// Registers a watcher, delivering a buffered completion at once.
impl Handler<Watch> for CompletionRouter {
    type Result = ();

    fn handle(&mut self, msg: Watch, _: &mut Self::Context) {
        if let Some((status, _)) = self.early.remove(&msg.execution_id) {
            self.completed.insert(&msg.execution_id);
            msg.recipient.do_send(ExecutionCompleted {
                execution_id: msg.execution_id,
                status,
            });
            return;
        }
        self.waiting.insert(msg.execution_id, msg.recipient);
    }
}

/// Drops a watcher.
impl Handler<Unwatch> for CompletionRouter {
    type Result = ();

    fn handle(&mut self, msg: Unwatch, _: &mut Self::Context) {
        self.waiting.remove(&msg.execution_id);
        self.completed.insert(&msg.execution_id);
    }
}

/// Routes a completion event.
impl Handler<Completion> for CompletionRouter {
    type Result = MessageResult<Completion>;

    fn handle(&mut self, msg: Completion, _: &mut Self::Context) -> Self::Result {
        if !self.events.insert(&msg.event_id) || self.completed.set.contains(&msg.execution_id) {
            return MessageResult(Delivery::Duplicate);
        }
        match self.waiting.remove(&msg.execution_id) {
            Some(recipient) => {
                self.completed.insert(&msg.execution_id);
                recipient.do_send(ExecutionCompleted {
                    execution_id: msg.execution_id,
                    status: msg.status,
                });
                MessageResult(Delivery::Delivered)
            }
            None if self.early.contains_key(&msg.execution_id) => {
                MessageResult(Delivery::Duplicate)
            }
            None => {
                self.buffer(msg.execution_id, msg.status);
                MessageResult(Delivery::Buffered)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    struct Sink(Arc<Mutex<Vec<ExecutionCompleted>>>);
    impl Actor for Sink {
        type Context = Context<Self>;
    }
    impl Handler<ExecutionCompleted> for Sink {
        type Result = ();
        fn handle(&mut self, msg: ExecutionCompleted, _: &mut Self::Context) {
            self.0.lock().expect("lock").push(msg);
        }
    }

    fn completion(event: &str, exec: &str) -> Completion {
        Completion {
            event_id: event.into(),
            execution_id: exec.into(),
            status: ExecutionStatus::Succeeded,
        }
    }

    #[test]
    fn statuses_are_parsed_as_events_and_polls_spell_them() {
        use ExecutionStatus::*;
        assert_eq!(ExecutionStatus::parse("succeeded"), Some(Succeeded));
        assert_eq!(ExecutionStatus::parse("completed"), Some(Succeeded));
        assert_eq!(ExecutionStatus::parse("failed"), Some(Failed));
        assert_eq!(ExecutionStatus::parse("running"), None);
        assert_eq!(ExecutionStatus::parse("FAILED"), None);
    }

    #[actix_rt::test]
    async fn events_reach_their_watcher_once_and_early_ones_wait_for_it() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(got.clone()).start().recipient();
        let router = CompletionRouter::default().start();
        assert_eq!(
            router.send(completion("e1", "x1")).await.expect("send"),
            Delivery::Buffered
        );
        assert_eq!(
            router.send(completion("e1", "x1")).await.expect("send"),
            Delivery::Duplicate
        );
        router
            .send(Watch {
                execution_id: "x1".into(),
                recipient: sink.clone(),
            })
            .await
            .expect("send");
        router
            .send(Watch {
                execution_id: "x2".into(),
                recipient: sink,
            })
            .await
            .expect("send");
        assert_eq!(
            router.send(completion("e2", "x2")).await.expect("send"),
            Delivery::Delivered
        );
        assert_eq!(
            router.send(completion("e3", "x2")).await.expect("send"),
            Delivery::Duplicate,
            "x2 already completed"
        );
        assert_eq!(
            router.send(completion("e4", "x1")).await.expect("send"),
            Delivery::Duplicate,
            "x1 already completed"
        );
        actix_rt::task::yield_now().await;
        let got = got.lock().expect("lock");
        let ids: Vec<&str> = got.iter().map(|c| c.execution_id.as_str()).collect();
        assert_eq!(ids, vec!["x1", "x2"]);
    }
}
