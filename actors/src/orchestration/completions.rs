//! CompletionRouter: routes execution-completion webhooks (`POST /cxone/webhook`) to the
//! SubFlowActor waiting for that execution. Events are idempotent: a repeated `event_id`, or
//! a second completion of an execution already completed, is ignored. An event may arrive
//! before the execution POST has answered: it is buffered (bounded, at most
//! [`EARLY_CAPACITY`] for [`EARLY_TTL`]) and delivered when the sub-flow starts watching.
//!
//! With a state store ([`CompletionRouter::with_store`]), an event no sub-flow here waits for
//! is also stored before the webhook is answered ([`SqlCompletions`]); on PostgreSQL that
//! announces it to every replica (`LISTEN`/`NOTIFY`), so the replica whose run waits for it
//! gets it at once, wherever the webhook landed. A sub-flow that starts waiting (a run resumed
//! on another replica, or after a restart) takes a stored event, so it need not poll.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix::WeakAddr;

use crate::lifecycle::Lifecycle;
use crate::store::error::StoreError;
use crate::store::{millis, now_millis, SqlCompletions, StoredCompletion};

/// Early events buffered at most.
pub const EARLY_CAPACITY: usize = 100_000;
/// How long an early event is kept.
pub const EARLY_TTL: Duration = Duration::from_secs(600);
/// Event ids and completed executions remembered for dedupe.
pub const SEEN_CAPACITY: usize = 200_000;
/// How often stored events older than [`EARLY_TTL`] are deleted.
pub const STORED_CLEANUP: Duration = Duration::from_secs(60);
/// Delay before listening again after the announcements' connection failed.
pub const LISTEN_RETRY: Duration = Duration::from_secs(1);

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

    /// As the state store keeps it: `succeeded` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
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
///
/// Errors: with a state store, an event nobody here waits for could not be stored (the
/// webhook should be answered 503, so that CXone sends it again).
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Delivery, StoreError>")]
pub struct Completion {
    /// The event's id (dedupe key).
    pub event_id: String,
    /// The execution.
    pub execution_id: String,
    /// Its outcome.
    pub status: ExecutionStatus,
}

/// What happened to a [`Completion`]; serialised `delivered`, `buffered` or `duplicate` (the
/// `status` of `POST /cxone/webhook`'s answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(
    description = "What happened to a completion event: `delivered` to the sub-flow \
    waiting for it, `buffered` (nobody here waits for it yet; stored when there is a state \
    store), or a `duplicate` (ignored)."
)]
pub enum Delivery {
    /// Delivered to the waiting sub-flow.
    Delivered,
    /// Nobody here waits yet: buffered (and, with a state store, stored and announced to
    /// every replica).
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
    fn contains(&self, key: &str) -> bool {
        self.set.contains(key)
    }

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
    /// Events stored and announced to every replica, when there is a state store.
    stored: Option<SqlCompletions>,
    /// The task handing this router the events announced on PostgreSQL.
    listener: Option<tokio::task::JoinHandle<()>>,
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
            stored: None,
            listener: None,
            lifecycle: Lifecycle::new("CompletionRouter"),
        }
    }
}

impl CompletionRouter {
    /// A router that stores the events nobody here waits for in `stored`, and on
    /// PostgreSQL hears about those stored by every replica.
    pub fn with_store(stored: SqlCompletions) -> Self {
        CompletionRouter {
            stored: Some(stored),
            ..CompletionRouter::default()
        }
    }

    /// Hands `status` to the sub-flow waiting for `execution_id`; false when none waits.
    fn deliver(&mut self, execution_id: &str, status: ExecutionStatus) -> bool {
        let Some(recipient) = self.waiting.remove(execution_id) else {
            return false;
        };
        self.completed.insert(execution_id);
        recipient.do_send(ExecutionCompleted {
            execution_id: execution_id.to_string(),
            status,
        });
        true
    }

    /// Keeps an event nobody waits for yet, dropping the oldest past [`EARLY_CAPACITY`] or
    /// [`EARLY_TTL`].
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

    /// Listens to the events every replica stores (PostgreSQL), unless already listening.
    fn listen(&mut self, ctx: &mut Context<Self>) {
        let Some(stored) = self.stored.clone() else {
            return;
        };
        if self.listener.as_ref().is_some_and(|l| !l.is_finished()) {
            return;
        }
        // A Tokio task, not a future of this actor: the listening connection must be dropped
        // where the runtime can close it, which an actor's context at shutdown is not.
        // No runtime: the system is stopping (an actor started during its teardown).
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let router = ctx.address().downgrade();
        self.listener = Some(runtime.spawn(forward_announcements(stored, router)));
    }
}

/// Hands every event announced on the store's channel to `router` while it lives, listening
/// again after [`LISTEN_RETRY`] when the connection fails (events announced meanwhile are
/// still stored: the sub-flow that waits takes them when it starts waiting, or polls).
async fn forward_announcements(stored: SqlCompletions, router: WeakAddr<CompletionRouter>) {
    loop {
        match stored.listen().await {
            Ok(None) => return,
            Ok(Some(mut listener)) => {
                log::info!("actor=CompletionRouter event=listening");
                loop {
                    let notification = match listener.recv().await {
                        Ok(n) => n,
                        Err(e) => {
                            log::warn!("actor=CompletionRouter event=listen_lost error={e}");
                            break;
                        }
                    };
                    let Some(router) = router.upgrade() else {
                        return;
                    };
                    match serde_json::from_str::<StoredCompletion>(notification.payload()) {
                        Ok(event) => router.do_send(Announced(event)),
                        Err(_) => {
                            log::warn!("actor=CompletionRouter event=announcement_unreadable")
                        }
                    }
                }
            }
            Err(e) => log::warn!("actor=CompletionRouter event=listen_failed error={e}"),
        }
        if router.upgrade().is_none() {
            return;
        }
        tokio::time::sleep(LISTEN_RETRY).await;
    }
}

/// An event stored by a replica (this one included) and announced on PostgreSQL.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
struct Announced(StoredCompletion);

impl Actor for CompletionRouter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.lifecycle.started();
        if let Some(stored) = self.stored.clone() {
            self.listen(ctx);
            ctx.run_interval(STORED_CLEANUP, move |_, ctx| {
                let stored = stored.clone();
                ctx.spawn(fut::wrap_future(async move {
                    let before = now_millis().saturating_sub(millis(EARLY_TTL));
                    if let Err(e) = stored.forget_received_before(before).await {
                        log::warn!("actor=CompletionRouter event=cleanup_failed error={e}");
                    }
                }));
            });
        }
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

/// Registers a watcher, delivering a buffered completion at once, or one the state store
/// holds as soon as it is read.
impl Handler<Watch> for CompletionRouter {
    type Result = ();

    fn handle(&mut self, msg: Watch, ctx: &mut Self::Context) {
        let execution_id = msg.execution_id;
        self.waiting.insert(execution_id.clone(), msg.recipient);
        if let Some((status, _)) = self.early.remove(&execution_id) {
            self.deliver(&execution_id, status);
            return;
        }
        let Some(stored) = self.stored.clone() else {
            return;
        };
        ctx.spawn(
            async move { stored.take(&execution_id).await.map(|e| (execution_id, e)) }
                .into_actor(self)
                .map(|taken, act, _| match taken {
                    Ok((execution_id, Some(event))) => {
                        if let Some(status) = ExecutionStatus::parse(&event.status) {
                            act.deliver(&execution_id, status);
                        }
                    }
                    Ok((_, None)) => {}
                    // The sub-flow polls, as it would without the store.
                    Err(e) => log::warn!("actor=CompletionRouter event=take_failed error={e}"),
                }),
        );
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
    type Result = ResponseActFuture<Self, Result<Delivery, StoreError>>;

    fn handle(&mut self, msg: Completion, _: &mut Self::Context) -> Self::Result {
        let answer = |d| Box::pin(fut::ready(Ok(d)));
        if self.events.contains(&msg.event_id)
            || self.completed.contains(&msg.execution_id)
            || self.early.contains_key(&msg.execution_id)
        {
            return answer(Delivery::Duplicate);
        }
        if self.deliver(&msg.execution_id, msg.status) {
            self.events.insert(&msg.event_id);
            return answer(Delivery::Delivered);
        }
        self.buffer(msg.execution_id.clone(), msg.status);
        let Some(stored) = self.stored.clone() else {
            self.events.insert(&msg.event_id);
            return answer(Delivery::Buffered);
        };
        // Answered once stored: a failure is answered 503 and the event, not remembered as
        // seen, is taken again when CXone sends it again.
        let event = StoredCompletion {
            event_id: msg.event_id,
            execution_id: msg.execution_id,
            status: msg.status.as_str().to_string(),
        };
        Box::pin(
            async move { stored.record(&event).await.map(|_| event.event_id) }
                .into_actor(self)
                .map(|recorded, act, _| {
                    act.events.insert(&recorded?);
                    Ok(Delivery::Buffered)
                }),
        )
    }
}

/// An event a replica (this one included) stored: delivered to the sub-flow waiting here,
/// or buffered in case one starts waiting.
impl Handler<Announced> for CompletionRouter {
    type Result = ();

    fn handle(&mut self, Announced(event): Announced, _: &mut Self::Context) {
        let Some(status) = ExecutionStatus::parse(&event.status) else {
            return;
        };
        self.events.insert(&event.event_id);
        if self.completed.contains(&event.execution_id)
            || self.deliver(&event.execution_id, status)
            || self.early.contains_key(&event.execution_id)
        {
            return;
        }
        self.buffer(event.execution_id, status);
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
            router
                .send(completion("e1", "x1"))
                .await
                .expect("send")
                .expect("no store"),
            Delivery::Buffered
        );
        assert_eq!(
            router
                .send(completion("e1", "x1"))
                .await
                .expect("send")
                .expect("no store"),
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
            router
                .send(completion("e2", "x2"))
                .await
                .expect("send")
                .expect("no store"),
            Delivery::Delivered
        );
        assert_eq!(
            router
                .send(completion("e3", "x2"))
                .await
                .expect("send")
                .expect("no store"),
            Delivery::Duplicate,
            "x2 already completed"
        );
        assert_eq!(
            router
                .send(completion("e4", "x1"))
                .await
                .expect("send")
                .expect("no store"),
            Delivery::Duplicate,
            "x1 already completed"
        );
        actix_rt::task::yield_now().await;
        let got = got.lock().expect("lock");
        let ids: Vec<&str> = got.iter().map(|c| c.execution_id.as_str()).collect();
        assert_eq!(ids, vec!["x1", "x2"]);
    }

    #[actix_rt::test]
    async fn an_event_stored_before_a_restart_reaches_the_sub_flow_that_waits_after_it() {
        let dir = std::env::temp_dir().join(format!("sb-completions-{}", uuid::Uuid::new_v4()));
        let url = format!("sqlite://{}", dir.join("state.db").display());
        let store = crate::store::Store::open(&url, 2).await.expect("open");
        let before = CompletionRouter::with_store(SqlCompletions::new(store.clone())).start();
        assert_eq!(
            before
                .send(completion("e1", "x1"))
                .await
                .expect("send")
                .expect("stored"),
            Delivery::Buffered
        );
        // A new router on the same store (the process restarted) hears nothing of e1 but
        // what the store kept.
        let after = CompletionRouter::with_store(SqlCompletions::new(store)).start();
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = Sink(got.clone()).start().recipient();
        after
            .send(Watch {
                execution_id: "x1".into(),
                recipient: sink,
            })
            .await
            .expect("send");
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.lock().expect("lock").is_empty() {
            assert!(Instant::now() < deadline, "the stored event never arrived");
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        let got = got.lock().expect("lock");
        assert_eq!(got[0].execution_id, "x1");
        assert_eq!(got[0].status, ExecutionStatus::Succeeded);
    }
}
