//! KafkaRouterActor: dedupe, per-partition batching and produce of events whose route the
//! sender matched (rules are matched on the HTTP worker, not on the router's one thread).
//!
//! A [`RouteEvent`] carries its own reply sender (one channel per event; events reach the
//! router in [`RouteEvents`] messages from the HTTP workers' intakes, sent with `try_send` so
//! a full mailbox is refused at once); the reply comes when the broker has acknowledged the
//! record (or it failed, or it is a duplicate), gathered with the other replies of the same
//! step in an [`Outbox`] and sent to the worker as one message. Records beyond
//! `kafka.queue_capacity` are refused ([`RouteError::QueueFull`]) so memory stays bounded
//! and the webhook can answer 503 with `Retry-After`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rskafka::client::partition::{Compression, PartitionClient};
use rskafka::record::Record;

use super::core::{Batch, Effects, RouterCore, Step, Waiting};
use super::dedupe::{DedupeKey, DedupeStore};
use super::event::{BrokerFailure, RouteError, RouteEvent, RouteOutcome, StateFailure};
use super::kafka::KafkaConnection;
use super::kafka_error::BrokerCallError;
use super::ledger::ClaimLedger;
use super::replies::{Outbox, ReplyChannel, ReplyTo};
use super::rules::Route;
use crate::acknowledger::Acknowledge;
use crate::drain::Drain;
use crate::lifecycle::Lifecycle;
use crate::metrics::METRICS;
use crate::settings::{KafkaCompression, KafkaSettings};
use crate::store::dedupe::{Claim, SharedDedupe};

/// Capacity of the router's mailbox, in messages.
pub const ROUTER_MAILBOX_MESSAGES: usize = 256;

/// Events for the router, sent together by one HTTP worker (see the module doc). Each event
/// is admitted as if sent alone, in order; each outcome goes to its own reply sender, by way
/// of `replies`.
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub struct RouteEvents {
    /// The events, in the order they were submitted.
    pub events: Vec<RouteEvent>,
    /// The sending worker's reply channel.
    pub replies: ReplyChannel,
}

impl RouteEvents {
    /// Answers every event of the message `error` (nothing of it is admitted).
    fn refuse(self, error: &RouteError, outbox: &mut Outbox) {
        for event in self.events {
            outbox.push(self.replies.reply_to(event.reply), Err(error.clone()));
        }
    }
}

/// How often queues are swept for records that can no longer be answered in time.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// Claims of the shared dedupe window in flight at once; messages arriving meanwhile wait and
/// go together in the next claim (one round trip for them all). One: the state store's CPU
/// per event is mostly per statement (~100 µs, against ~10 µs per key), so fewer, larger
/// claims cost the store less; measured with `cargo bench --bench ingest`, target `shared`,
/// four claims in flight routed fewer events per second at 64 in flight than one or two, and
/// two no more than one (0.49 and 0.55 of memory dedupe at 64 and 256 in flight, against
/// 0.50 and 0.55; with the watermark, 0.57 and 0.63 against 0.58 and 0.66–0.67).
pub const SHARED_CLAIMS_IN_FLIGHT: usize = 1;

/// How often the shared dedupe window's expired keys are deleted.
pub const SHARED_DEDUPE_CLEANUP: Duration = Duration::from_secs(60);

/// How long ended deliveries gather before the shared dedupe window hears of them in one
/// write: the releases of failed keys (deleted), then this replica's watermark (every key of
/// the claims up to it ended). 20 ms. Nothing waits for that write (the events were answered
/// when the broker acknowledged them), so gathering costs no latency, and a few large
/// statements cost the store far less CPU than many small ones: measured with `cargo bench
/// --bench ingest`, target `shared` at 64 in flight, PostgreSQL's CPU per event fell from
/// ~76 µs to ~44 µs when per-key confirms of ~13 keys became writes of ~200 (before the
/// watermark replaced them). Meanwhile another replica answers a redelivery of such a key
/// as in flight elsewhere (retry later), as it does while the produce runs. During a graceful
/// stop nothing gathers: each write starts at once, and the stop waits for it
/// ([`Drain::settled`]).
pub const SHARED_WINDOW_UPDATE_LINGER: Duration = Duration::from_millis(20);

/// How long a failed write to the shared dedupe window waits before it is tried again (the
/// releases and the watermark stay where they were meanwhile).
pub const SHARED_WINDOW_RETRY: Duration = Duration::from_secs(1);

/// This replica's side of the shared dedupe window: its [`ClaimLedger`], and the releases and
/// watermark on their way to the store — one write at a time, in the background, after
/// gathering for [`SHARED_WINDOW_UPDATE_LINGER`]; what ends meanwhile goes in the next. The
/// claims' own tasks update it too, so a claim answered after the router restarted is still
/// accounted for.
#[derive(Default, Clone)]
struct WindowUpdates {
    pending: Rc<RefCell<PendingKeys>>,
    /// The service's drain: its writes are tracked so a graceful stop waits for them.
    drain: Option<Drain>,
}

#[derive(Default)]
struct PendingKeys {
    ledger: ClaimLedger,
    /// Keys to delete from the window; each ends in the ledger once deleted.
    released: Vec<DedupeKey>,
    /// The watermark last written.
    written: i64,
    /// The lease is due for renewal even if the watermark did not move.
    renew: bool,
    writing: bool,
}

impl PendingKeys {
    fn idle(&self) -> bool {
        self.released.is_empty() && !self.renew && self.ledger.routed_through() <= self.written
    }
}

impl WindowUpdates {
    /// Opens the next claim; its number.
    fn begin_claim(&self) -> i64 {
        self.pending.borrow_mut().ledger.begin()
    }

    /// Claim `n` answered; `ours`: the keys it says are this replica's.
    fn claim_answered(&self, shared: &SharedDedupe, n: i64, ours: &[DedupeKey]) {
        self.pending
            .borrow_mut()
            .ledger
            .answered(n, ours.iter().copied());
        self.queue(shared, Vec::new(), Vec::new());
    }

    /// Claim `n` of `keys` failed: the keys it may have reserved are released.
    fn claim_failed(&self, shared: &SharedDedupe, n: i64, keys: &[DedupeKey]) {
        let fresh = self.pending.borrow_mut().ledger.failed(n, keys);
        self.queue(shared, Vec::new(), fresh);
    }

    /// The lease is renewed at the next write, whether or not the watermark moves.
    fn renew(&self, shared: &SharedDedupe) {
        self.pending.borrow_mut().renew = true;
        self.queue(shared, Vec::new(), Vec::new());
    }

    /// Releases every key whose delivery the ledger holds (the router restarted: none of
    /// them is in flight any more).
    fn release_held(&self, shared: &SharedDedupe) {
        let held = self.pending.borrow().ledger.held();
        self.queue(shared, Vec::new(), held);
    }

    /// `routed` keys reached Kafka (they end now); `released` keys are queued for deletion.
    /// Starts a write unless one runs or nothing is due.
    fn queue(&self, shared: &SharedDedupe, routed: Vec<DedupeKey>, released: Vec<DedupeKey>) {
        let start = {
            let mut p = self.pending.borrow_mut();
            for key in &routed {
                p.ledger.ended(key);
            }
            p.released.extend(released);
            !p.idle() && !std::mem::replace(&mut p.writing, true)
        };
        if !start {
            return;
        }
        let (pending, shared, drain) = (self.pending.clone(), shared.clone(), self.drain.clone());
        let writes = async move {
            let mut failed = false;
            loop {
                let draining = drain.as_ref().is_some_and(Drain::is_draining);
                if failed {
                    actix_rt::time::sleep(SHARED_WINDOW_RETRY).await;
                } else if !draining {
                    actix_rt::time::sleep(SHARED_WINDOW_UPDATE_LINGER).await;
                }
                let released = {
                    let mut p = pending.borrow_mut();
                    if p.idle() {
                        p.writing = false;
                        return;
                    }
                    std::mem::take(&mut p.released)
                };
                failed = false;
                if !released.is_empty() {
                    if let Err(e) = shared.release(&released).await {
                        log::warn!(
                            "actor=KafkaRouterActor event=shared_dedupe_update_failed keys={} error={e}; tried again in {} s",
                            released.len(),
                            SHARED_WINDOW_RETRY.as_secs()
                        );
                        pending.borrow_mut().released.extend(released);
                        failed = true;
                        continue;
                    }
                    let mut p = pending.borrow_mut();
                    for key in &released {
                        p.ledger.ended(key);
                    }
                }
                let target = {
                    let mut p = pending.borrow_mut();
                    let target = p.ledger.routed_through();
                    let renew = std::mem::take(&mut p.renew);
                    if target <= p.written && !renew {
                        continue;
                    }
                    target
                };
                match shared.advance(target).await {
                    Ok(()) => {
                        let mut p = pending.borrow_mut();
                        p.written = p.written.max(target);
                    }
                    Err(e) => {
                        log::warn!(
                            "actor=KafkaRouterActor event=shared_dedupe_update_failed routed_through={target} error={e}; tried again in {} s",
                            SHARED_WINDOW_RETRY.as_secs()
                        );
                        pending.borrow_mut().renew = true;
                        failed = true;
                    }
                }
            }
        };
        match &self.drain {
            Some(d) => actix_rt::spawn(d.tracker().track_future(writes)),
            None => actix_rt::spawn(writes),
        };
    }
}

/// A produce request unanswered for this long, or one that failed, makes the router check
/// that every routed topic exists and create the missing ones again (at most once per this
/// interval): a broker restarted with empty storage lost them, and the requests waiting for
/// them (rskafka retries an unknown topic within the produce timeout) then succeed.
pub const TOPIC_REPAIR_INTERVAL: Duration = Duration::from_secs(1);

/// Produce requests in flight (by when they were sent) and the topic repair they may call for.
#[derive(Default)]
struct Repairs {
    next: u64,
    in_flight: HashMap<u64, Instant>,
    running: bool,
    last: Option<Instant>,
}

impl Repairs {
    /// A request was sent: its id.
    fn sent(&mut self) -> u64 {
        self.next += 1;
        self.in_flight.insert(self.next, Instant::now());
        self.next
    }

    /// Request `id` was answered.
    fn answered(&mut self, id: u64) {
        self.in_flight.remove(&id);
    }

    /// Whether a request has waited [`TOPIC_REPAIR_INTERVAL`] or more.
    fn stalled(&self) -> bool {
        self.in_flight
            .values()
            .any(|sent| sent.elapsed() >= TOPIC_REPAIR_INTERVAL)
    }

    /// Starts a repair unless one runs or one started within the interval.
    fn start(&mut self) -> bool {
        let recent = self
            .last
            .is_some_and(|at| at.elapsed() < TOPIC_REPAIR_INTERVAL);
        if self.running || recent {
            return false;
        }
        self.running = true;
        self.last = Some(Instant::now());
        true
    }
}

impl KafkaRouterActor {
    /// Checks that the routed topics exist and creates the missing ones again (see
    /// [`TOPIC_REPAIR_INTERVAL`]), in the background.
    fn repair_topics(&mut self, ctx: &mut Context<Self>) {
        if !self.repairs.start() {
            return;
        }
        let kafka = self.kafka.clone();
        ctx.spawn(
            async move { kafka.repair_topics().await }
                .into_actor(self)
                .map(|repaired, act, _| {
                    act.repairs.running = false;
                    match repaired {
                        Ok(created) if !created.is_empty() => log::warn!(
                            "component=kafka event=topics_recreated topics={}; the broker had lost them",
                            created.join(",")
                        ),
                        Ok(_) => {}
                        Err(e) => log::warn!("component=kafka event=topic_check_failed error={e}"),
                    }
                }),
        );
    }
}

/// Produces `records` with `compression` within `budget` (rskafka has no request timeout of
/// its own): their offsets, or why not.
async fn produce(
    client: &PartitionClient,
    records: Vec<Record>,
    compression: Compression,
    budget: Duration,
) -> Result<Vec<i64>, RouteError> {
    match tokio::time::timeout(budget, client.produce(records, compression)).await {
        Ok(Ok(offsets)) => Ok(offsets),
        Ok(Err(e)) => Err(RouteError::Broker(e.into())),
        Err(_) => Err(RouteError::Timeout),
    }
}

/// The broker's error when it refused a record for good (it would refuse it again:
/// `MessageTooLarge`, `RecordListTooLarge`, `InvalidRecord`), named; `None` for anything a
/// retry may cure.
fn refused_for_good(e: &RouteError) -> Option<String> {
    use rskafka::client::error::{Error, ProtocolError};
    let RouteError::Broker(BrokerFailure::Client(client)) = e else {
        return None;
    };
    match client.as_ref() {
        Error::ServerError { protocol_error, .. }
            if matches!(
                protocol_error,
                ProtocolError::MessageTooLarge
                    | ProtocolError::RecordListTooLarge
                    | ProtocolError::InvalidRecord
            ) =>
        {
            Some(format!("{protocol_error:?}"))
        }
        _ => None,
    }
}

/// rskafka's codec for `kafka.compression`.
fn codec(compression: KafkaCompression) -> Compression {
    match compression {
        KafkaCompression::None => Compression::NoCompression,
        KafkaCompression::Gzip => Compression::Gzip,
        KafkaCompression::Lz4 => Compression::Lz4,
        KafkaCompression::Snappy => Compression::Snappy,
        KafkaCompression::Zstd => Compression::Zstd,
    }
}

/// Asks whether the broker answers metadata requests (readiness).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<usize, BrokerCallError>")]
pub struct CheckBroker;

/// The router. One per process.
pub struct KafkaRouterActor {
    kafka: Arc<KafkaConnection>,
    /// Admission, batching and answers (see [`RouterCore`]).
    core: RouterCore<ReplyTo>,
    /// Where acknowledgements of routed events (and of duplicates) are queued.
    acknowledger: Option<Recipient<Acknowledge>>,
    /// The shared dedupe window, with `routing.dedupe = "shared"`.
    shared: Option<SharedDedupe>,
    /// Events whose keys are being claimed in the shared window, or wait for a claim (they
    /// count against `kafka.queue_capacity` with the pending records).
    claiming: usize,
    /// Messages waiting for the next claim.
    to_claim: Vec<RouteEvents>,
    /// Claims in flight (at most [`SHARED_CLAIMS_IN_FLIGHT`]).
    claims_in_flight: usize,
    /// Ended keys on their way to the shared window.
    window_updates: WindowUpdates,
    /// The codec of every produce batch (`kafka.compression`).
    compression: Compression,
    /// Produce requests in flight, and the topic repairs they may call for.
    repairs: Repairs,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl KafkaRouterActor {
    /// A router over an established connection.
    pub fn new(
        settings: &KafkaSettings,
        kafka: Arc<KafkaConnection>,
        dedupe: Box<dyn DedupeStore>,
    ) -> Self {
        KafkaRouterActor {
            kafka,
            core: RouterCore::new(settings, dedupe),
            acknowledger: None,
            shared: None,
            claiming: 0,
            to_claim: Vec::new(),
            claims_in_flight: 0,
            window_updates: WindowUpdates::default(),
            compression: codec(settings.compression),
            repairs: Repairs::default(),
            lifecycle: Lifecycle::new("KafkaRouterActor"),
        }
    }

    /// Sends events no rule matches to `route` (`routing.dead_letter_topic`, whose partition
    /// client the connection must have) rather than refusing them.
    pub fn with_dead_letter(self, route: Option<Route>) -> Self {
        KafkaRouterActor {
            core: self.core.with_dead_letter(route),
            ..self
        }
    }

    /// Queues the acknowledgement of routed events (a duplicate's too) with `acknowledger`,
    /// which runs on the router's thread, so ingestion pays no extra cross-thread message.
    pub fn with_acknowledger(mut self, acknowledger: Recipient<Acknowledge>) -> Self {
        self.acknowledger = Some(acknowledger);
        self
    }

    /// Keeps the dedupe window in the state store as well (`routing.dedupe = "shared"`): each
    /// step's keys are claimed there before its events are admitted, and confirmed or
    /// released there once answered. The in-process window still holds this replica's own
    /// deliveries in flight.
    pub fn with_shared_dedupe(mut self, shared: SharedDedupe) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Takes part in the service's graceful stop: writes to the shared dedupe window start at
    /// once while it drains, and [`Drain::settled`] waits for them.
    pub fn with_drain(mut self, drain: Drain) -> Self {
        self.window_updates.drain = Some(drain);
        self
    }

    /// Admits the events of one message: dedupe, rule, queue; then pumps the partitions
    /// they were queued on. `claims`: the shared window's verdicts, when it is used.
    fn admit_all(
        &mut self,
        events: Vec<RouteEvent>,
        replies: &ReplyChannel,
        claims: Option<&HashMap<DedupeKey, Claim>>,
        now: Instant,
        ctx: &mut Context<Self>,
    ) {
        let mut touched: Vec<Route> = Vec::new();
        let mut effects = Effects::default();
        for event in events {
            let RouteEvent { event, reply } = event;
            let reply = replies.reply_to(reply);
            match claims.and_then(|c| c.get(&event.dedupe_key)) {
                Some(Claim::Routed) => {
                    effects.acks.push(event.data_action_id);
                    effects.replies.push((reply, Ok(RouteOutcome::Duplicate)));
                    continue;
                }
                Some(Claim::InFlightElsewhere) => {
                    effects
                        .replies
                        .push((reply, Err(RouteError::InFlightElsewhere)));
                    continue;
                }
                Some(Claim::Ours) | None => {}
            }
            if let Some(route) = self.core.admit(event, reply, now, &mut effects) {
                if !touched.contains(&route) {
                    touched.push(route);
                }
            }
        }
        self.deliver(effects);
        for route in &touched {
            self.pump(route, ctx);
        }
    }

    /// Carries out what the core decided: the replies go to their workers (one message per
    /// worker), the acknowledgements to the acknowledger (one message however many), the
    /// ended keys to the shared window (in the background).
    fn deliver(&self, effects: Effects<ReplyTo>) {
        if let Some(shared) = &self.shared {
            self.window_updates
                .queue(shared, effects.confirmed, effects.released);
        }
        let mut outbox = Outbox::default();
        for (to, reply) in effects.replies {
            outbox.push(to, reply);
        }
        outbox.send();
        if let (Some(a), false) = (&self.acknowledger, effects.acks.is_empty()) {
            a.do_send(Acknowledge {
                data_action_ids: effects.acks,
            });
        }
        METRICS.router_queue.set(self.core.pending() as i64);
    }

    /// Sends what the partition's queue allows now, or arms its linger timer.
    fn pump(&mut self, route: &Route, ctx: &mut Context<Self>) {
        loop {
            match self.core.step(route, Instant::now()) {
                Step::Idle => return,
                Step::Linger(delay) => {
                    let r = route.clone();
                    ctx.run_later(delay, move |act, ctx| {
                        act.core.linger_elapsed(&r);
                        act.pump(&r, ctx);
                    });
                    return;
                }
                Step::Send(batch) => self.send(route.clone(), batch, ctx),
            }
        }
    }

    fn send(&mut self, route: Route, batch: Batch<ReplyTo>, ctx: &mut Context<Self>) {
        let Some(client) = self.kafka.partition(&route) else {
            let failure = Err(RouteError::Broker(BrokerFailure::NoPartitionClient));
            self.finish(&route, batch.waiters, failure);
            return;
        };
        METRICS.batch_records.observe(batch.records.len() as f64);
        let budget = self
            .core
            .produce_timeout()
            .saturating_sub(batch.oldest().elapsed());
        let Batch { records, waiters } = batch;
        let compression = self.compression;
        let batch_id = self.repairs.sent();
        // Kept to send to the dead-letter topic what the broker refuses for good.
        let copy = self.core.has_dead_letter().then(|| records.clone());
        let produce = async move {
            let _timer = METRICS.produce_request_seconds.start_timer();
            produce(&client, records, compression, budget).await
        };
        ctx.spawn(produce.into_actor(self).map(move |result, act, ctx| {
            act.repairs.answered(batch_id);
            if let (Err(e), Some(copy)) = (&result, copy) {
                if let Some(error) = refused_for_good(e) {
                    return act.refused(route, waiters, copy, error, e.clone(), ctx);
                }
            }
            if result.is_err() {
                act.repair_topics(ctx);
            }
            act.finish(&route, waiters, result);
            act.pump(&route, ctx);
        }));
    }

    /// The broker refused a batch for good (`error`): a lone record goes to the dead-letter
    /// topic; the records of a larger batch are sent again one by one, to find the ones it
    /// refuses.
    fn refused(
        &mut self,
        route: Route,
        waiters: Vec<Waiting<ReplyTo>>,
        records: Vec<Record>,
        error: String,
        failure: RouteError,
        ctx: &mut Context<Self>,
    ) {
        // The batch's produce slot is free again; its records are still pending.
        self.core.release_slot(&route);
        if waiters.len() == 1 {
            for (waiting, record) in waiters.into_iter().zip(records) {
                self.dead_letter(&route, waiting, record, error.clone(), failure.clone(), ctx);
            }
        } else {
            for (waiting, record) in waiters.into_iter().zip(records) {
                self.send_alone(route.clone(), waiting, record, ctx);
            }
        }
        self.pump(&route, ctx);
    }

    /// Queues a refused record for the dead-letter topic, or answers `failure`.
    fn dead_letter(
        &mut self,
        route: &Route,
        waiting: Waiting<ReplyTo>,
        record: Record,
        error: String,
        failure: RouteError,
        ctx: &mut Context<Self>,
    ) {
        match self.core.dead_letter_refused(waiting, record, error) {
            Ok(dead_letter) => self.pump(&dead_letter, ctx),
            Err(waiting) => self.answer(route, vec![waiting], Err(failure)),
        }
    }

    /// Produces one record of a refused batch on its own, within what is left of its budget.
    fn send_alone(
        &mut self,
        route: Route,
        waiting: Waiting<ReplyTo>,
        record: Record,
        ctx: &mut Context<Self>,
    ) {
        let Some(client) = self.kafka.partition(&route) else {
            let failure = Err(RouteError::Broker(BrokerFailure::NoPartitionClient));
            return self.answer(&route, vec![waiting], failure);
        };
        let budget = self
            .core
            .produce_timeout()
            .saturating_sub(waiting.accepted.elapsed());
        let compression = self.compression;
        let copy = record.clone();
        let produce = async move { produce(&client, vec![record], compression, budget).await };
        ctx.spawn(produce.into_actor(self).map(move |result, act, ctx| {
            match &result {
                Err(e) => match refused_for_good(e) {
                    Some(error) => act.dead_letter(&route, waiting, copy, error, e.clone(), ctx),
                    None => act.answer(&route, vec![waiting], result),
                },
                Ok(_) => act.answer(&route, vec![waiting], result),
            }
            act.pump(&route, ctx);
        }));
    }

    /// Answers the senders of a batch that was sent (and the redeliveries waiting on them),
    /// freeing its produce slot.
    fn finish(
        &mut self,
        route: &Route,
        waiters: Vec<Waiting<ReplyTo>>,
        result: Result<Vec<i64>, RouteError>,
    ) {
        self.core.release_slot(route);
        self.answer(route, waiters, result);
    }

    /// Answers records with `result` (and the redeliveries waiting on them).
    fn answer(
        &mut self,
        route: &Route,
        waiters: Vec<Waiting<ReplyTo>>,
        result: Result<Vec<i64>, RouteError>,
    ) {
        observe_latency(&waiters, result.is_ok());
        let mut effects = Effects::default();
        let routed = self.core.answer(route, waiters, result, &mut effects);
        self.deliver(effects);
        count_routed(route, routed);
    }

    /// Fails queued records that can no longer be answered within the produce timeout.
    fn sweep(&mut self) {
        let mut effects = Effects::default();
        for (route, waiters) in self.core.sweep(Instant::now()) {
            observe_latency(&waiters, false);
            self.core
                .answer(&route, waiters, Err(RouteError::Timeout), &mut effects);
        }
        if !effects.replies.is_empty() {
            self.deliver(effects);
        }
    }
}

/// Each record's time from acceptance to its answer, in the histogram of its outcome.
fn observe_latency<T>(waiters: &[Waiting<T>], ok: bool) {
    let latency = METRICS.produce(ok);
    for w in waiters {
        latency.observe(w.accepted.elapsed().as_secs_f64());
    }
}

/// Counts records routed to `route`'s partition.
fn count_routed(route: &Route, routed: u64) {
    if routed > 0 {
        let partition = route.partition.to_string();
        METRICS
            .routed
            .with_label_values(&[route.topic.as_ref(), partition.as_str()])
            .inc_by(routed);
    }
}

impl Actor for KafkaRouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(ROUTER_MAILBOX_MESSAGES);
        ctx.run_interval(SWEEP_INTERVAL, |act, _| act.sweep());
        ctx.run_interval(TOPIC_REPAIR_INTERVAL, |act, ctx| {
            if act.repairs.stalled() {
                act.repair_topics(ctx);
            }
        });
        if let Some(shared) = self.shared.clone() {
            // The lease is renewed every third of it, whether or not events come.
            let every = (shared.lease() / 3).max(Duration::from_millis(100));
            let renewing = shared.clone();
            ctx.run_interval(every, move |act, _| act.window_updates.renew(&renewing));
            ctx.run_interval(SHARED_DEDUPE_CLEANUP, move |_, _| {
                let shared = shared.clone();
                actix_rt::spawn(async move {
                    if let Err(e) = shared.forget_expired().await {
                        log::warn!(
                            "actor=KafkaRouterActor event=shared_dedupe_cleanup_failed error={e}"
                        );
                    }
                });
            });
        }
        self.lifecycle.started();
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        Running::Stop
    }
}

impl Supervised for KafkaRouterActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.lifecycle.restarted();
        // In-flight produce futures died with the old context (their senders see Stopped);
        // queued records are failed now. Their keys are released so redeliveries produce.
        let mut outbox = Outbox::default();
        for to in self.core.reset() {
            outbox.push(to, Err(RouteError::Stopped));
        }
        // Messages waiting for a claim are answered too; those of the claims in flight died
        // with their futures (their senders see the router stopped).
        for m in std::mem::take(&mut self.to_claim) {
            m.refuse(&RouteError::Stopped, &mut outbox);
        }
        // None of the shared window's keys held here is in flight any more: released, so a
        // redelivery to any replica is produced and the watermark can move on.
        if let Some(shared) = &self.shared {
            self.window_updates.release_held(shared);
        }
        (self.claiming, self.claims_in_flight) = (0, 0);
        outbox.send();
        METRICS.router_queue.set(0);
    }
}

/// Admits the events of one HTTP worker's turn, in order: dedupe, rule, queue; each outcome
/// goes through its event's reply sender.
impl Handler<RouteEvents> for KafkaRouterActor {
    type Result = ();

    fn handle(&mut self, msg: RouteEvents, ctx: &mut Self::Context) {
        let Some(shared) = self.shared.clone() else {
            return self.admit_all(msg.events, &msg.replies, None, Instant::now(), ctx);
        };
        // Shared window: the message waits for a claim of its keys (one claim for every
        // message that arrived while the claims in flight ran), then is admitted. Events
        // waiting for their claim count against the capacity.
        if self.claiming + self.core.pending() >= self.core.capacity() {
            let mut outbox = Outbox::default();
            msg.refuse(&RouteError::QueueFull, &mut outbox);
            return outbox.send();
        }
        self.claiming += msg.events.len();
        self.to_claim.push(msg);
        if self.claims_in_flight < SHARED_CLAIMS_IN_FLIGHT {
            self.claim(shared, ctx);
        }
    }
}

impl KafkaRouterActor {
    /// Claims the keys of every message waiting in one round trip, then admits them (or, if
    /// the store failed, answers them [`RouteError::DedupeUnavailable`]); starts the next
    /// claim if more messages came meanwhile. The claim runs in a task of its own that
    /// records its answer in the ledger before the router sees it, so a claim answered after
    /// the router restarted still releases what it reserved.
    fn claim(&mut self, shared: SharedDedupe, ctx: &mut Context<Self>) {
        let messages = std::mem::take(&mut self.to_claim);
        if messages.is_empty() {
            return;
        }
        self.claims_in_flight += 1;
        let n: usize = messages.iter().map(|m| m.events.len()).sum();
        let keys: Vec<DedupeKey> = messages
            .iter()
            .flat_map(|m| m.events.iter().map(|e| e.event.dedupe_key))
            .collect();
        let next = shared.clone();
        METRICS.dedupe_claim_keys.observe(keys.len() as f64);
        let timer = METRICS.dedupe_claim_seconds.start_timer();
        let updates = self.window_updates.clone();
        let number = updates.begin_claim();
        let (tx, rx) = tokio::sync::oneshot::channel();
        actix_rt::spawn(async move {
            let claims = shared.claim(&keys, number).await;
            timer.observe_duration();
            let ours: Vec<DedupeKey> = claims
                .iter()
                .flatten()
                .filter(|(_, c)| **c == Claim::Ours)
                .map(|(k, _)| *k)
                .collect();
            match &claims {
                Ok(_) => updates.claim_answered(&shared, number, &ours),
                Err(_) => updates.claim_failed(&shared, number, &keys),
            }
            if tx.send(claims).is_err() {
                // The router restarted meanwhile: nobody admits these events.
                updates.queue(&shared, Vec::new(), ours);
            }
        });
        ctx.spawn(rx.into_actor(self).map(move |claims, act, ctx| {
            act.claims_in_flight -= 1;
            act.claiming -= n;
            // A claim whose task ended without answering failed as an interrupted store call.
            match claims.unwrap_or(Err(crate::store::error::StoreError::Interrupted)) {
                Ok(claims) => {
                    // Accepted now: their linger starts after the claim. Counted from their
                    // arrival, the claim's round trip used the linger up, and the events of
                    // one claim, spread over the partitions, left in batches of 5-7 records
                    // rather than 12-14 (`cargo bench --bench ingest`, target `shared`: 11.6k
                    // against 14.3k events/s at 64 in flight, 14.6k against 21.9k at 256).
                    let now = Instant::now();
                    for m in messages {
                        act.admit_all(m.events, &m.replies, Some(&claims), now, ctx);
                    }
                }
                Err(e) => {
                    log::warn!("actor=KafkaRouterActor event=shared_dedupe_unavailable events={n} error={e}");
                    let failure = RouteError::DedupeUnavailable(StateFailure(Arc::new(e)));
                    let mut outbox = Outbox::default();
                    for m in messages {
                        m.refuse(&failure, &mut outbox);
                    }
                    outbox.send();
                }
            }
            act.claim(next, ctx);
        }));
    }
}

/// Asks the broker for metadata.
impl Handler<CheckBroker> for KafkaRouterActor {
    type Result = ResponseFuture<Result<usize, BrokerCallError>>;

    fn handle(&mut self, _: CheckBroker, _: &mut Self::Context) -> Self::Result {
        let kafka = self.kafka.clone();
        Box::pin(async move { kafka.check().await })
    }
}

crate::handle_stop_actor!(KafkaRouterActor, |a: &KafkaRouterActor| Some(
    a.core.pending() + a.claiming
));
