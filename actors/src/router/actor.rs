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

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rskafka::client::partition::Compression;
use rskafka::record::Record;
use tokio::sync::oneshot;

use super::batch::{BatchLimits, Next, PartitionQueue, Pending};
use super::dedupe::{DedupeKey, DedupeStore, Seen};
use super::intake::RouteEvents;
use super::kafka::KafkaConnection;
use super::replies::{Outbox, ReplyChannel, ReplyTo};
use super::rules::Route;
use crate::acknowledger::Acknowledge;
use crate::lifecycle;
use crate::metrics::METRICS;
use crate::settings::KafkaSettings;

/// Encoding overhead of one record in a record batch (length, attributes, deltas, varints),
/// added to its key, value and headers so batches are sized by the request they make.
pub const RECORD_OVERHEAD_BYTES: usize = 16;
/// Overhead of one produce request (request and record batch headers, topic name), kept out
/// of `kafka.max_batch_bytes` so the whole request stays under it.
pub const REQUEST_OVERHEAD_BYTES: usize = 256;

/// The Kafka record of an event (seed 004): key = `dataActionId`, value = the compact
/// payload, headers `eventType` and `timestamp`, stamped now; with its size in a produce
/// request (bytes, [`RECORD_OVERHEAD_BYTES`] included), which batches are limited by.
pub fn event_record(
    data_action_id: String,
    event_type: String,
    timestamp: String,
    compact: String,
) -> (Record, usize) {
    let record = Record {
        key: Some(data_action_id.into_bytes()),
        value: Some(compact.into_bytes()),
        headers: BTreeMap::from([
            ("eventType".to_string(), event_type.into_bytes()),
            ("timestamp".to_string(), timestamp.into_bytes()),
        ]),
        timestamp: chrono::Utc::now(),
    };
    let size = record.approximate_size() + RECORD_OVERHEAD_BYTES;
    (record, size)
}

/// How often queues are swept for records that can no longer be answered in time.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

/// A Data Action event to route; the outcome comes through `reply` once decided (at once for
/// a duplicate or a refusal, when the broker answers otherwise). Build it with
/// [`RouteEvent::new`], which also returns the receiving end, and send it in a
/// [`RouteEvents`] (through a [`RouterIntake`](super::RouterIntake)).
#[derive(Debug)]
pub struct RouteEvent {
    /// Dedupe key: of the `webhook-id` header, or of `dataActionId` + `eventType` +
    /// `timestamp` ([`DedupeKey`]).
    pub dedupe_key: DedupeKey,
    /// `dataActionId`: the record key.
    pub data_action_id: String,
    /// `eventType`: a record header.
    pub event_type: String,
    /// `timestamp`: a record header.
    pub timestamp: String,
    /// The payload serialised compactly: the record value.
    pub compact: String,
    /// Where the first matching rule sends it ([`RuleSet::route`](super::RuleSet::route), decided by the sender so
    /// the router's one thread does not match every payload); `None`: no rule matched.
    pub route: Option<Route>,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Reply>,
}

impl RouteEvent {
    /// An event and the receiver of its outcome (a dropped sender means the router stopped).
    pub fn new(
        dedupe_key: DedupeKey,
        data_action_id: String,
        event_type: String,
        timestamp: String,
        compact: String,
        route: Option<Route>,
    ) -> (Self, oneshot::Receiver<Reply>) {
        let (reply, rx) = oneshot::channel();
        let event = RouteEvent {
            dedupe_key,
            data_action_id,
            event_type,
            timestamp,
            compact,
            route,
            reply,
        };
        (event, rx)
    }
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset the broker assigned.
    pub offset: i64,
}

/// The result of routing one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The broker acknowledged the record.
    Routed(Routed),
    /// The event was routed before, within the dedupe window; nothing produced.
    Duplicate,
}

/// Why an event was not routed. Nothing of it is in Kafka (or, for a timeout, may be:
/// the event is redelivered and produced at least once).
#[derive(Debug, Clone, PartialEq, Eq, derive_more::Display, derive_more::Error)]
pub enum RouteError {
    /// No rule matched the payload.
    #[display("no routing rule matches the event")]
    NoRoute,
    /// The router's queue is full (backpressure).
    #[display("the router's queue is full")]
    QueueFull,
    /// The broker did not acknowledge in time.
    #[display("the broker did not acknowledge within the produce timeout")]
    Timeout,
    /// The broker refused or failed.
    #[display("the broker failed: {_0}")]
    Broker(#[error(not(source))] String),
    /// The router stopped (it is being restarted).
    #[display("the router restarted before the record was produced")]
    Stopped,
}

/// The outcome of routing one event.
pub type Reply = Result<RouteOutcome, RouteError>;

/// Asks whether the broker answers metadata requests (readiness).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Result<usize, String>")]
pub struct CheckBroker;

struct Waiter {
    key: DedupeKey,
    data_action_id: String,
    reply: ReplyTo,
}

type Queue = PartitionQueue<Record, Waiter>;

/// The router. One per process.
pub struct KafkaRouterActor {
    kafka: Arc<KafkaConnection>,
    dedupe: Box<dyn DedupeStore>,
    limits: BatchLimits,
    produce_timeout: Duration,
    capacity: usize,
    /// Records accepted and not yet answered (queued + in flight).
    pending: usize,
    queues: HashMap<Route, Queue>,
    /// Redeliveries waiting for the delivery in flight, by dedupe key (with their ids).
    duplicates: HashMap<DedupeKey, Vec<(ReplyTo, String)>>,
    /// Where acknowledgements of routed events (and of duplicates) are queued.
    acknowledger: Option<Recipient<Acknowledge>>,
    restarts: u32,
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
            dedupe,
            limits: BatchLimits::of(settings),
            produce_timeout: Duration::from_millis(settings.produce_timeout_ms),
            capacity: settings.queue_capacity.max(1),
            pending: 0,
            queues: HashMap::new(),
            duplicates: HashMap::new(),
            acknowledger: None,
            restarts: 0,
        }
    }

    /// Queues the acknowledgement of routed events (a duplicate's too) with `acknowledger`,
    /// which runs on the router's thread, so ingestion pays no extra cross-thread message.
    pub fn with_acknowledger(mut self, acknowledger: Recipient<Acknowledge>) -> Self {
        self.acknowledger = Some(acknowledger);
        self
    }

    /// Queues the acknowledgement of `ids` (one message however many).
    fn acknowledge(&self, ids: Vec<String>) {
        if let (Some(a), false) = (&self.acknowledger, ids.is_empty()) {
            a.do_send(Acknowledge {
                data_action_ids: ids,
            });
        }
    }

    /// Dedupes, checks and queues one event from the worker of `from`; the route it was
    /// queued on, to be pumped once the whole message is admitted (so a message's events to
    /// one partition leave together). Outcomes decided now go into `outbox`.
    fn admit(
        &mut self,
        msg: RouteEvent,
        from: &ReplyChannel,
        now: Instant,
        outbox: &mut Outbox,
    ) -> Option<Route> {
        let reply = from.reply_to(msg.reply);
        match self.dedupe.check_and_reserve(msg.dedupe_key, now) {
            Some(Seen::Routed) => {
                self.acknowledge(vec![msg.data_action_id]);
                outbox.push(reply, Ok(RouteOutcome::Duplicate));
                return None;
            }
            Some(Seen::InFlight) => {
                self.duplicates
                    .entry(msg.dedupe_key)
                    .or_default()
                    .push((reply, msg.data_action_id));
                return None;
            }
            None => {}
        }
        let Some(route) = msg.route else {
            self.dedupe.release(msg.dedupe_key);
            outbox.push(reply, Err(RouteError::NoRoute));
            return None;
        };
        if self.pending >= self.capacity {
            self.dedupe.release(msg.dedupe_key);
            outbox.push(reply, Err(RouteError::QueueFull));
            return None;
        }
        let (record, size) = event_record(
            msg.data_action_id.clone(),
            msg.event_type,
            msg.timestamp,
            msg.compact,
        );
        self.queues.entry(route.clone()).or_default().push(Pending {
            record,
            size,
            accepted: now,
            waiter: Waiter {
                key: msg.dedupe_key,
                data_action_id: msg.data_action_id,
                reply,
            },
        });
        self.pending += 1;
        Some(route)
    }

    /// Sends what the partition's queue allows now, or arms its linger timer.
    fn pump(&mut self, route: &Route, ctx: &mut Context<Self>) {
        loop {
            let Some(queue) = self.queues.get_mut(route) else {
                return;
            };
            match queue.next(&self.limits, Instant::now()) {
                Next::Idle => return,
                Next::WaitFor(delay) => {
                    if !queue.linger_armed {
                        queue.linger_armed = true;
                        let r = route.clone();
                        ctx.run_later(delay, move |act, ctx| {
                            if let Some(q) = act.queues.get_mut(&r) {
                                q.linger_armed = false;
                            }
                            act.pump(&r, ctx);
                        });
                    }
                    return;
                }
                Next::Send => {
                    let batch = queue.take_batch(&self.limits);
                    queue.in_flight += 1;
                    self.send(route.clone(), batch, ctx);
                }
            }
        }
    }

    fn send(&mut self, route: Route, batch: Vec<Pending<Record, Waiter>>, ctx: &mut Context<Self>) {
        let Some(client) = self.kafka.partition(&route) else {
            // Routes come from the rules the connection was opened for; this cannot happen
            // unless they diverge, and then the records fail rather than vanish.
            let waiters = batch.into_iter().map(|p| (p.accepted, p.waiter)).collect();
            self.finish(
                &route,
                waiters,
                Err(RouteError::Broker("no partition client".into())),
            );
            return;
        };
        METRICS.batch_records.observe(batch.len() as f64);
        let oldest = batch.first().map_or_else(Instant::now, |p| p.accepted);
        let budget = self.produce_timeout.saturating_sub(oldest.elapsed());
        let mut records = Vec::with_capacity(batch.len());
        let mut waiters = Vec::with_capacity(batch.len());
        for p in batch {
            records.push(p.record);
            waiters.push((p.accepted, p.waiter));
        }
        let produce = async move {
            let _timer = METRICS.produce_request_seconds.start_timer();
            match tokio::time::timeout(budget, client.produce(records, Compression::NoCompression))
                .await
            {
                Ok(Ok(offsets)) => Ok(offsets),
                Ok(Err(e)) => Err(RouteError::Broker(e.to_string())),
                Err(_) => Err(RouteError::Timeout),
            }
        };
        ctx.spawn(produce.into_actor(self).map(move |result, act, ctx| {
            if let Some(q) = act.queues.get_mut(&route) {
                q.in_flight = q.in_flight.saturating_sub(1);
            }
            act.finish(&route, waiters, result);
            act.pump(&route, ctx);
        }));
    }

    /// Answers the senders of a batch (and the redeliveries waiting on them).
    fn finish(
        &mut self,
        route: &Route,
        waiters: Vec<(Instant, Waiter)>,
        result: Result<Vec<i64>, RouteError>,
    ) {
        self.pending = self.pending.saturating_sub(waiters.len());
        METRICS.router_queue.set(self.pending as i64);
        let latency = &METRICS.produce_outcomes[usize::from(result.is_err())];
        let mut acks = Vec::with_capacity(waiters.len());
        let mut outbox = Outbox::default();
        let mut routed = 0;
        for (i, (accepted, waiter)) in waiters.into_iter().enumerate() {
            latency.observe(accepted.elapsed().as_secs_f64());
            let reply = match &result {
                Ok(offsets) => match offsets.get(i) {
                    Some(&offset) => Ok(RouteOutcome::Routed(Routed {
                        topic: route.topic.clone(),
                        partition: route.partition,
                        offset,
                    })),
                    None => Err(RouteError::Broker(
                        "the broker returned fewer offsets than records".into(),
                    )),
                },
                Err(e) => Err(e.clone()),
            };
            if reply.is_ok() {
                self.dedupe.confirm(waiter.key);
                acks.push(waiter.data_action_id);
                routed += 1;
            } else {
                self.dedupe.release(waiter.key);
            }
            if let Some(dups) = self.duplicates.remove(&waiter.key) {
                let dup_reply = reply.clone().map(|_| RouteOutcome::Duplicate);
                for (d, id) in dups {
                    if dup_reply.is_ok() {
                        acks.push(id);
                    }
                    outbox.push(d, dup_reply.clone());
                }
            }
            outbox.push(waiter.reply, reply);
        }
        outbox.send();
        self.acknowledge(acks);
        if routed > 0 {
            let partition = route.partition.to_string();
            METRICS
                .routed
                .with_label_values(&[route.topic.as_ref(), partition.as_str()])
                .inc_by(routed);
        }
    }

    /// Fails queued records that can no longer be answered within the produce timeout.
    fn sweep(&mut self) {
        let Some(cutoff) = Instant::now().checked_sub(self.produce_timeout) else {
            return;
        };
        let routes: Vec<Route> = self.queues.keys().cloned().collect();
        for route in routes {
            let expired = match self.queues.get_mut(&route) {
                Some(q) => q.take_expired(cutoff),
                None => continue,
            };
            if !expired.is_empty() {
                let waiters = expired
                    .into_iter()
                    .map(|p| (p.accepted, p.waiter))
                    .collect();
                self.finish(&route, waiters, Err(RouteError::Timeout));
            }
        }
    }
}

impl Actor for KafkaRouterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(super::intake::ROUTER_MAILBOX_MESSAGES);
        ctx.run_interval(SWEEP_INTERVAL, |act, _| act.sweep());
        lifecycle::started("KafkaRouterActor", self.restarts);
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        lifecycle::stopping("KafkaRouterActor", self.restarts);
        Running::Stop
    }
}

impl Supervised for KafkaRouterActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.restarts = lifecycle::restarted("KafkaRouterActor", self.restarts);
        // In-flight produce futures died with the old context (their senders see Stopped);
        // queued records are failed now. Their keys are released so redeliveries produce.
        let mut outbox = Outbox::default();
        for (_, mut queue) in self.queues.drain() {
            for p in queue.take_all() {
                outbox.push(p.waiter.reply, Err(RouteError::Stopped));
            }
        }
        outbox.send();
        self.duplicates.clear();
        self.dedupe.release_in_flight();
        self.pending = 0;
        METRICS.router_queue.set(0);
    }
}

/// Admits the events of one HTTP worker's turn, in order: dedupe, rule, queue; each outcome
/// goes through its event's reply sender.
impl Handler<RouteEvents> for KafkaRouterActor {
    type Result = ();

    fn handle(&mut self, msg: RouteEvents, ctx: &mut Self::Context) {
        let now = Instant::now();
        let mut touched: Vec<Route> = Vec::new();
        let mut outbox = Outbox::default();
        for event in msg.events {
            if let Some(route) = self.admit(event, &msg.replies, now, &mut outbox) {
                if !touched.contains(&route) {
                    touched.push(route);
                }
            }
        }
        outbox.send();
        METRICS.router_queue.set(self.pending as i64);
        for route in &touched {
            self.pump(route, ctx);
        }
    }
}

/// Asks the broker for metadata.
impl Handler<CheckBroker> for KafkaRouterActor {
    type Result = ResponseFuture<Result<usize, String>>;

    fn handle(&mut self, _: CheckBroker, _: &mut Self::Context) -> Self::Result {
        let kafka = self.kafka.clone();
        Box::pin(async move { kafka.check().await })
    }
}

crate::handle_stop_actor!(KafkaRouterActor);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_record_is_keyed_by_its_id_with_the_payload_as_value_and_two_headers() {
        let (record, size) = event_record(
            "da-1".into(),
            "created".into(),
            "2026-01-01T00:00:00Z".into(),
            r#"{"priority":"high"}"#.into(),
        );
        assert_eq!(record.key.as_deref(), Some(&b"da-1"[..]));
        assert_eq!(
            record.value.as_deref(),
            Some(&br#"{"priority":"high"}"#[..])
        );
        assert_eq!(record.headers["eventType"], b"created");
        assert_eq!(record.headers["timestamp"], b"2026-01-01T00:00:00Z");
        assert_eq!(record.headers.len(), 2);
        assert_eq!(size, record.approximate_size() + RECORD_OVERHEAD_BYTES);
    }
}
