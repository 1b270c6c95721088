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

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use rskafka::client::partition::Compression;
use rskafka::record::Record;

use super::batch::{BatchLimits, Next, PartitionQueue, Pending};
use super::dedupe::{DedupeKey, DedupeStore, Seen};
use super::event::{event_record, RouteError, RouteEvent, RouteOutcome, Routed};
use super::kafka::KafkaConnection;
use super::replies::{Outbox, ReplyChannel, ReplyTo};
use super::rules::Route;
use crate::acknowledger::Acknowledge;
use crate::lifecycle::Lifecycle;
use crate::metrics::METRICS;
use crate::settings::KafkaSettings;

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

/// How often queues are swept for records that can no longer be answered in time.
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(100);

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
            dedupe,
            limits: BatchLimits::of(settings),
            produce_timeout: Duration::from_millis(settings.produce_timeout_ms),
            capacity: settings.queue_capacity.max(1),
            pending: 0,
            queues: HashMap::new(),
            duplicates: HashMap::new(),
            acknowledger: None,
            lifecycle: Lifecycle::new("KafkaRouterActor"),
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
        let latency = METRICS.produce(result.is_ok());
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
        ctx.set_mailbox_capacity(ROUTER_MAILBOX_MESSAGES);
        ctx.run_interval(SWEEP_INTERVAL, |act, _| act.sweep());
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
