//! The router's bookkeeping as a plain type, [`RouterCore`], that the
//! [`KafkaRouterActor`](super::KafkaRouterActor) drives and unit tests call without a running
//! actor system: which events are admitted, which wait for a delivery of the same key
//! already in flight, how many records are pending against `kafka.queue_capacity`, which
//! batch leaves next, and — once the broker answered, or a record expired — who is answered
//! what, which dedupe keys are confirmed or released, and which ids are acknowledged.
//!
//! The core is generic over `T`, whatever carries one event's outcome back to its sender (a
//! [`ReplyTo`](super::replies::ReplyTo) in the actor, a number in tests). It decides; the
//! actor carries out: it sends the [`Effects`]' replies and acknowledgements, spawns the
//! produce of each [`Step::Send`] batch, arms a timer for each [`Step::Linger`], and records
//! the metrics.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rskafka::record::Record;

use super::batch::{BatchLimits, Next, PartitionQueue, Pending};
use super::dedupe::{DedupeKey, DedupeStore, Seen};
use super::event::{
    dead_letter_headers, dead_letter_record, event_record, BrokerFailure, DeadLetterReason,
    Incoming, Reply, RouteError, RouteOutcome, Routed,
};
use super::rules::Route;
use crate::settings::KafkaSettings;

/// A queued or in-flight record's sender: its dedupe key, its id (acknowledged once routed)
/// and where its outcome goes.
#[derive(Debug)]
pub struct Waiter<T> {
    key: DedupeKey,
    data_action_id: String,
    reply: T,
    /// Why its record goes to the dead-letter topic, when it does.
    dead_letter: Option<DeadLetterReason>,
}

/// A record of a batch that left, with when it was accepted (for latency and the produce
/// budget) and its sender.
#[derive(Debug)]
pub struct Waiting<T> {
    /// When the router accepted the record.
    pub accepted: Instant,
    /// Its sender.
    pub waiter: Waiter<T>,
}

/// A produce request to make: the records of one partition, oldest first, and their senders
/// in the same order (the broker's offsets answer them by position).
#[derive(Debug)]
pub struct Batch<T> {
    /// The records.
    pub records: Vec<Record>,
    /// Their senders, in the records' order.
    pub waiters: Vec<Waiting<T>>,
}

impl<T> Batch<T> {
    /// When its oldest record was accepted (now, for an empty batch).
    pub fn oldest(&self) -> Instant {
        self.waiters
            .first()
            .map_or_else(Instant::now, |w| w.accepted)
    }
}

/// What a partition does next, decided by [`RouterCore::step`].
#[derive(Debug)]
pub enum Step<T> {
    /// Produce this batch now (it counts as in flight until [`RouterCore::finish`]).
    Send(Batch<T>),
    /// Look again after this long (the oldest record lingers for a fuller batch); returned
    /// once until [`RouterCore::linger_elapsed`], so one timer is armed per partition.
    Linger(Duration),
    /// Nothing to do now: empty, every in-flight slot busy, or a linger timer armed.
    Idle,
}

/// What a core call decided to tell the outside: outcomes for senders, the ids to
/// acknowledge to CXone (routed events and their redeliveries), and the dedupe keys whose
/// deliveries ended (for a shared dedupe window to confirm or release).
#[derive(Debug)]
pub struct Effects<T> {
    /// Each sender's outcome.
    pub replies: Vec<(T, Reply)>,
    /// `dataActionId`s whose events are in Kafka (routed now, or duplicates of one).
    pub acks: Vec<String>,
    /// Keys whose delivery reached Kafka: routed now, or found routed at admission (a
    /// duplicate of this replica's own).
    pub confirmed: Vec<DedupeKey>,
    /// Keys whose delivery failed or was refused before producing.
    pub released: Vec<DedupeKey>,
}

impl<T> Default for Effects<T> {
    fn default() -> Self {
        Effects {
            replies: Vec::new(),
            acks: Vec::new(),
            confirmed: Vec::new(),
            released: Vec::new(),
        }
    }
}

/// The router's bookkeeping (see the module doc). Invariants: `pending()` counts the
/// records queued or in flight; a dedupe key is reserved from admission until its record is
/// answered, then confirmed (routed) or released (failed, so a redelivery is produced); a
/// redelivery of a key in flight is answered with that delivery's outcome.
pub struct RouterCore<T> {
    dedupe: Box<dyn DedupeStore>,
    limits: BatchLimits,
    produce_timeout: Duration,
    capacity: usize,
    pending: usize,
    queues: HashMap<Route, PartitionQueue<Record, Waiter<T>>>,
    duplicates: HashMap<DedupeKey, Vec<(T, String)>>,
    dead_letter: Option<Route>,
}

impl<T> RouterCore<T> {
    /// A core with the batch limits, produce timeout and queue capacity of `settings`
    /// (`kafka.queue_capacity`, at least 1), deduplicating with `dedupe`.
    pub fn new(settings: &KafkaSettings, dedupe: Box<dyn DedupeStore>) -> Self {
        RouterCore {
            dedupe,
            limits: BatchLimits::of(settings),
            produce_timeout: Duration::from_millis(settings.produce_timeout_ms),
            capacity: settings.queue_capacity.max(1),
            pending: 0,
            queues: HashMap::new(),
            duplicates: HashMap::new(),
            dead_letter: None,
        }
    }

    /// Sends events no rule matches to `route` (`routing.dead_letter_topic`) rather than
    /// refusing them; `None`: refused with [`RouteError::NoRoute`].
    pub fn with_dead_letter(mut self, route: Option<Route>) -> Self {
        self.dead_letter = route;
        self
    }

    /// Records queued or in flight.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// Records queued or in flight at most (`kafka.queue_capacity`, at least 1).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The produce timeout: a record's whole budget from acceptance to the broker's answer.
    pub fn produce_timeout(&self) -> Duration {
        self.produce_timeout
    }

    /// Admits one event at `now`, answering `reply` through `effects` when decided at once:
    /// a key already routed → [`RouteOutcome::Duplicate`] (acknowledged again); a key in
    /// flight → waits for that delivery's outcome; no route → queued for the dead-letter
    /// topic, or without one [`RouteError::NoRoute`]; at capacity → [`RouteError::QueueFull`]
    /// (both refusals release the key). Otherwise the record is
    /// queued and its route returned, to be [stepped](Self::step).
    pub fn admit(
        &mut self,
        event: Incoming,
        reply: T,
        now: Instant,
        effects: &mut Effects<T>,
    ) -> Option<Route> {
        match self.dedupe.check_and_reserve(event.dedupe_key, now) {
            Some(Seen::Routed) => {
                // In Kafka already: a shared window's claim of this key ends here.
                effects.confirmed.push(event.dedupe_key);
                effects.acks.push(event.data_action_id);
                effects.replies.push((reply, Ok(RouteOutcome::Duplicate)));
                return None;
            }
            Some(Seen::InFlight) => {
                self.duplicates
                    .entry(event.dedupe_key)
                    .or_default()
                    .push((reply, event.data_action_id));
                return None;
            }
            None => {}
        }
        let (route, dead_letter) = match (event.route, &self.dead_letter) {
            (Some(route), _) => (route, None),
            (None, Some(dead_letter)) => (dead_letter.clone(), Some(DeadLetterReason::NoRoute)),
            (None, None) => {
                self.dedupe.release(event.dedupe_key);
                effects.released.push(event.dedupe_key);
                effects.replies.push((reply, Err(RouteError::NoRoute)));
                return None;
            }
        };
        if self.pending >= self.capacity {
            self.dedupe.release(event.dedupe_key);
            effects.released.push(event.dedupe_key);
            effects.replies.push((reply, Err(RouteError::QueueFull)));
            return None;
        }
        let id = event.data_action_id.clone();
        let (record, size) = match dead_letter.clone() {
            None => event_record(id, event.event_type, event.timestamp, event.compact),
            Some(why) => {
                dead_letter_record(id, event.event_type, event.timestamp, event.compact, &why)
            }
        };
        self.queues.entry(route.clone()).or_default().push(Pending {
            record,
            size,
            accepted: now,
            waiter: Waiter {
                key: event.dedupe_key,
                data_action_id: event.data_action_id,
                reply,
                dead_letter,
            },
        });
        self.pending += 1;
        Some(route)
    }

    /// Whether events no rule matches, and records the broker refuses for good, go to a
    /// dead-letter topic.
    pub fn has_dead_letter(&self) -> bool {
        self.dead_letter.is_some()
    }

    /// A record the broker refused for good (`error`, the broker's error, names why) goes to
    /// the dead-letter topic instead of being answered: queued there, still pending, with its
    /// waiter. Answers the dead-letter route to step, or gives the waiter back
    /// when there is no dead-letter topic, or when the record was already bound for it (the
    /// dead-letter topic refused it too).
    pub fn dead_letter_refused(
        &mut self,
        waiting: Waiting<T>,
        record: Record,
        error: String,
    ) -> Result<Route, Waiting<T>> {
        let Some(route) = self.dead_letter.clone() else {
            return Err(waiting);
        };
        if waiting.waiter.dead_letter.is_some() {
            return Err(waiting);
        }
        let why = DeadLetterReason::Refused(error);
        let (record, size) = dead_letter_headers(record, &why);
        let Waiting { accepted, waiter } = waiting;
        self.queues.entry(route.clone()).or_default().push(Pending {
            record,
            size,
            accepted,
            waiter: Waiter {
                dead_letter: Some(why),
                ..waiter
            },
        });
        Ok(route)
    }

    /// What `route`'s partition does at `now`: send a batch (within the batch limits and
    /// the in-flight limit), linger (once per armed timer), or nothing.
    pub fn step(&mut self, route: &Route, now: Instant) -> Step<T> {
        let Some(queue) = self.queues.get_mut(route) else {
            return Step::Idle;
        };
        match queue.next(&self.limits, now) {
            Next::Idle => Step::Idle,
            Next::WaitFor(_) if queue.linger_armed => Step::Idle,
            Next::WaitFor(delay) => {
                queue.linger_armed = true;
                Step::Linger(delay)
            }
            Next::Send => {
                let taken = queue.take_batch(&self.limits);
                queue.in_flight += 1;
                let mut records = Vec::with_capacity(taken.len());
                let mut waiters = Vec::with_capacity(taken.len());
                for p in taken {
                    records.push(p.record);
                    waiters.push(Waiting {
                        accepted: p.accepted,
                        waiter: p.waiter,
                    });
                }
                Step::Send(Batch { records, waiters })
            }
        }
    }

    /// `route`'s linger timer fired: the next [`step`](Self::step) may arm another.
    pub fn linger_elapsed(&mut self, route: &Route) {
        if let Some(q) = self.queues.get_mut(route) {
            q.linger_armed = false;
        }
    }

    /// A produce request of a batch [`step`](Self::step) sent on `route` ended: its
    /// in-flight slot is free again; its records are [answered](Self::answer), or sent again.
    pub fn release_slot(&mut self, route: &Route) {
        if let Some(q) = self.queues.get_mut(route) {
            q.in_flight = q.in_flight.saturating_sub(1);
        }
    }

    /// Answers records that left their queue (sent, expired or failed before sending):
    /// with `Ok(offsets)` the i-th record is routed at the i-th offset (a missing offset
    /// fails it with [`BrokerFailure::MissingOffset`]); the redeliveries waiting on each get
    /// the same outcome as [`RouteOutcome::Duplicate`]. Routed keys are confirmed and their
    /// ids (and their redeliveries') acknowledged; failed keys are released. Returns how
    /// many records were routed.
    pub fn answer(
        &mut self,
        route: &Route,
        waiters: Vec<Waiting<T>>,
        result: Result<Vec<i64>, RouteError>,
        effects: &mut Effects<T>,
    ) -> u64 {
        self.pending = self.pending.saturating_sub(waiters.len());
        let mut routed = 0;
        for (i, Waiting { waiter, .. }) in waiters.into_iter().enumerate() {
            let reply = match &result {
                Ok(offsets) => match offsets.get(i) {
                    Some(&offset) => {
                        let routed = Routed {
                            topic: route.topic.clone(),
                            partition: route.partition,
                            offset,
                        };
                        Ok(match waiter.dead_letter.clone() {
                            None => RouteOutcome::Routed(routed),
                            Some(reason) => RouteOutcome::DeadLettered { routed, reason },
                        })
                    }
                    None => Err(RouteError::Broker(BrokerFailure::MissingOffset)),
                },
                Err(e) => Err(e.clone()),
            };
            if reply.is_ok() {
                self.dedupe.confirm(waiter.key);
                effects.confirmed.push(waiter.key);
                effects.acks.push(waiter.data_action_id);
                routed += 1;
            } else {
                self.dedupe.release(waiter.key);
                effects.released.push(waiter.key);
            }
            if let Some(dups) = self.duplicates.remove(&waiter.key) {
                let dup_reply = reply.clone().map(|_| RouteOutcome::Duplicate);
                for (d, id) in dups {
                    if dup_reply.is_ok() {
                        effects.acks.push(id);
                    }
                    effects.replies.push((d, dup_reply.clone()));
                }
            }
            effects.replies.push((waiter.reply, reply));
        }
        routed
    }

    /// Takes out the queued records accepted before `now` less the produce timeout (they
    /// can no longer be answered in time), by route, for the caller to
    /// [answer](Self::answer) with [`RouteError::Timeout`].
    pub fn sweep(&mut self, now: Instant) -> Vec<(Route, Vec<Waiting<T>>)> {
        let Some(cutoff) = now.checked_sub(self.produce_timeout) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (route, queue) in &mut self.queues {
            let expired = queue.take_expired(cutoff);
            if !expired.is_empty() {
                let waiters = expired
                    .into_iter()
                    .map(|p| Waiting {
                        accepted: p.accepted,
                        waiter: p.waiter,
                    })
                    .collect();
                out.push((route.clone(), waiters));
            }
        }
        out
    }

    /// Forgets everything queued or in flight (the actor restarted; in-flight produces died
    /// with its context): returns the queued records' senders, to be answered
    /// [`RouteError::Stopped`]; the redeliveries waiting are dropped (their senders see the
    /// router stopped); every key in flight is released so a redelivery is produced.
    pub fn reset(&mut self) -> Vec<T> {
        let mut senders = Vec::new();
        for (_, mut queue) in self.queues.drain() {
            senders.extend(queue.take_all().into_iter().map(|p| p.waiter.reply));
        }
        // A shared window's reservations of these keys lapse with their lease; this replica
        // still owns them, so its own redeliveries are produced at once.
        self.duplicates.clear();
        self.dedupe.release_in_flight();
        self.pending = 0;
        senders
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A sent batch answered: its slot freed, its records answered.
    fn finish(
        core: &mut RouterCore<u32>,
        route: &Route,
        waiters: Vec<Waiting<u32>>,
        result: Result<Vec<i64>, RouteError>,
        fx: &mut Effects<u32>,
    ) -> u64 {
        core.release_slot(route);
        core.answer(route, waiters, result, fx)
    }
    use crate::router::MemoryDedupe;

    fn settings(queue_capacity: usize, linger_ms: u64) -> KafkaSettings {
        KafkaSettings {
            brokers: vec!["127.0.0.1:9092".into()],
            create_topics: true,
            topic_partitions: 3,
            replication_factor: 1,
            produce_timeout_ms: 1000,
            connect_timeout_ms: 1000,
            linger_ms,
            max_batch_bytes: 1 << 20,
            max_batch_records: 100,
            max_in_flight: 1,
            queue_capacity,
            compression: crate::settings::KafkaCompression::None,
            tls: Default::default(),
            sasl: Default::default(),
        }
    }

    fn core(queue_capacity: usize) -> RouterCore<u32> {
        RouterCore::new(
            &settings(queue_capacity, 0),
            Box::new(MemoryDedupe::new(Duration::from_secs(60), 1000)),
        )
    }

    fn route() -> Route {
        Route {
            topic: Arc::from("orders"),
            partition: 2,
        }
    }

    fn event(id: &str) -> Incoming {
        Incoming {
            dedupe_key: DedupeKey::event(id, "created", "t"),
            data_action_id: id.into(),
            event_type: "created".into(),
            timestamp: "t".into(),
            compact: r#"{"a":1}"#.into(),
            route: Some(route()),
        }
    }

    fn send(core: &mut RouterCore<u32>, now: Instant) -> Batch<u32> {
        match core.step(&route(), now) {
            Step::Send(batch) => batch,
            other => panic!("expected a batch, got {other:?}"),
        }
    }

    fn routed(offset: i64) -> Reply {
        Ok(RouteOutcome::Routed(Routed {
            topic: Arc::from("orders"),
            partition: 2,
            offset,
        }))
    }

    #[test]
    fn an_admitted_event_leaves_in_a_batch_and_is_routed_acknowledged_and_confirmed() {
        let (mut core, now) = (core(10), Instant::now());
        let mut fx = Effects::default();
        assert_eq!(core.admit(event("a"), 1, now, &mut fx), Some(route()));
        assert!(
            fx.replies.is_empty(),
            "nothing is answered before the broker"
        );
        assert_eq!(core.pending(), 1);
        let batch = send(&mut core, now);
        assert_eq!(batch.records.len(), 1);
        assert_eq!(batch.records[0].key.as_deref(), Some(&b"a"[..]));
        assert!(matches!(core.step(&route(), now), Step::Idle), "in flight");
        assert_eq!(
            finish(&mut core, &route(), batch.waiters, Ok(vec![7]), &mut fx),
            1
        );
        assert_eq!(fx.replies, vec![(1, routed(7))]);
        assert_eq!(fx.acks, vec!["a".to_string()]);
        assert_eq!(core.pending(), 0);
        // Confirmed: a redelivery later is a duplicate, acknowledged again, not queued.
        let mut fx = Effects::default();
        assert_eq!(core.admit(event("a"), 2, now, &mut fx), None);
        assert_eq!(fx.replies, vec![(2, Ok(RouteOutcome::Duplicate))]);
        assert_eq!(fx.acks, vec!["a".to_string()]);
        assert_eq!(
            fx.confirmed,
            vec![event("a").dedupe_key],
            "its key ends as routed"
        );
        assert_eq!(core.pending(), 0);
    }

    #[test]
    fn redeliveries_in_flight_wait_for_the_first_delivery_and_share_its_success() {
        let (mut core, now) = (core(10), Instant::now());
        let mut fx = Effects::default();
        core.admit(event("a"), 1, now, &mut fx);
        let batch = send(&mut core, now);
        assert_eq!(core.admit(event("a"), 2, now, &mut fx), None);
        assert_eq!(core.admit(event("a"), 3, now, &mut fx), None);
        assert!(fx.replies.is_empty(), "redeliveries wait");
        assert_eq!(core.pending(), 1, "redeliveries take no capacity");
        finish(&mut core, &route(), batch.waiters, Ok(vec![5]), &mut fx);
        let mut replies = fx.replies;
        replies.sort_by_key(|(to, _)| *to);
        assert_eq!(
            replies,
            vec![
                (1, routed(5)),
                (2, Ok(RouteOutcome::Duplicate)),
                (3, Ok(RouteOutcome::Duplicate))
            ]
        );
        assert_eq!(
            fx.acks.len(),
            3,
            "the event and both redeliveries acknowledged"
        );
    }

    #[test]
    fn a_failed_produce_fails_its_redeliveries_and_releases_the_key() {
        let (mut core, now) = (core(10), Instant::now());
        let mut fx = Effects::default();
        core.admit(event("a"), 1, now, &mut fx);
        let batch = send(&mut core, now);
        core.admit(event("a"), 2, now, &mut fx);
        let failure = RouteError::Broker(BrokerFailure::NoPartitionClient);
        assert_eq!(
            finish(
                &mut core,
                &route(),
                batch.waiters,
                Err(failure.clone()),
                &mut fx
            ),
            0
        );
        assert_eq!(
            fx.replies,
            vec![(2, Err(failure.clone())), (1, Err(failure))]
        );
        assert!(
            fx.acks.is_empty(),
            "nothing acknowledged that is not in Kafka"
        );
        // Released: the next redelivery is produced again.
        let mut fx = Effects::default();
        assert_eq!(core.admit(event("a"), 3, now, &mut fx), Some(route()));
        assert!(fx.replies.is_empty());
        assert_eq!(core.pending(), 1);
    }

    #[test]
    fn missing_offsets_fail_the_records_they_should_answer() {
        let (mut core, now) = (core(10), Instant::now());
        let mut fx = Effects::default();
        core.admit(event("a"), 1, now, &mut fx);
        core.admit(event("b"), 2, now, &mut fx);
        let batch = send(&mut core, now);
        assert_eq!(batch.records.len(), 2, "one request for the partition");
        assert_eq!(
            finish(&mut core, &route(), batch.waiters, Ok(vec![9]), &mut fx),
            1
        );
        assert_eq!(
            fx.replies,
            vec![
                (1, routed(9)),
                (2, Err(RouteError::Broker(BrokerFailure::MissingOffset)))
            ]
        );
        assert_eq!(fx.acks, vec!["a".to_string()]);
        let mut fx = Effects::default();
        assert_eq!(
            core.admit(event("b"), 3, now, &mut fx),
            Some(route()),
            "b's key was released"
        );
    }

    #[test]
    fn at_capacity_an_event_is_refused_and_its_key_released() {
        let (mut core, now) = (core(2), Instant::now());
        let mut fx = Effects::default();
        core.admit(event("a"), 1, now, &mut fx);
        core.admit(event("b"), 2, now, &mut fx);
        assert_eq!(core.admit(event("c"), 3, now, &mut fx), None);
        assert_eq!(fx.replies, vec![(3, Err(RouteError::QueueFull))]);
        assert_eq!(core.pending(), 2);
        // Capacity frees as records are answered; c was released, so it is admitted.
        let batch = send(&mut core, now);
        finish(&mut core, &route(), batch.waiters, Ok(vec![1, 2]), &mut fx);
        let mut fx = Effects::default();
        assert_eq!(core.admit(event("c"), 4, now, &mut fx), Some(route()));
        assert!(fx.replies.is_empty());
    }

    #[test]
    fn an_event_without_a_route_is_refused_and_its_key_released() {
        let (mut core, now) = (core(10), Instant::now());
        let mut fx = Effects::default();
        let mut lost = event("a");
        lost.route = None;
        assert_eq!(core.admit(lost, 1, now, &mut fx), None);
        assert_eq!(fx.replies, vec![(1, Err(RouteError::NoRoute))]);
        assert_eq!(core.pending(), 0);
        assert_eq!(core.admit(event("a"), 2, now, &mut fx), Some(route()));
    }

    #[test]
    fn with_a_dead_letter_topic_an_event_without_a_route_goes_there_with_its_reason() {
        let dead = Route {
            topic: Arc::from("dead"),
            partition: 0,
        };
        let mut core = core(10).with_dead_letter(Some(dead.clone()));
        let now = Instant::now();
        let mut fx = Effects::default();
        let mut lost = event("a");
        lost.route = None;
        assert_eq!(core.admit(lost, 1, now, &mut fx), Some(dead.clone()));
        assert!(
            fx.replies.is_empty(),
            "answered once the broker acknowledged it"
        );
        let Step::Send(batch) = core.step(&dead, now) else {
            panic!("a batch for the dead-letter topic")
        };
        let headers = &batch.records[0].headers;
        assert_eq!(
            headers.get("error").map(Vec::as_slice),
            Some(&b"no_route"[..])
        );
        assert!(headers.contains_key("reason") && headers.contains_key("eventType"));
        finish(&mut core, &dead, batch.waiters, Ok(vec![7]), &mut fx);
        let expected = RouteOutcome::DeadLettered {
            routed: Routed {
                topic: Arc::from("dead"),
                partition: 0,
                offset: 7,
            },
            reason: DeadLetterReason::NoRoute,
        };
        assert_eq!(fx.replies, vec![(1, Ok(expected))]);
        assert_eq!(fx.confirmed.len(), 1, "a redelivery is a duplicate");
    }

    #[test]
    fn a_lingering_partition_arms_one_timer_until_it_fires() {
        let mut core: RouterCore<u32> = RouterCore::new(
            &settings(10, 50),
            Box::new(MemoryDedupe::new(Duration::from_secs(60), 1000)),
        );
        let now = Instant::now();
        let mut fx = Effects::default();
        core.admit(event("a"), 1, now, &mut fx);
        assert!(
            matches!(core.step(&route(), now), Step::Linger(d) if d == Duration::from_millis(50))
        );
        assert!(matches!(core.step(&route(), now), Step::Idle), "one timer");
        core.linger_elapsed(&route());
        assert!(matches!(
            core.step(&route(), now + Duration::from_millis(50)),
            Step::Send(_)
        ));
    }

    #[test]
    fn sweep_takes_out_what_can_no_longer_be_answered_in_time() {
        let mut core: RouterCore<u32> = RouterCore::new(
            &settings(10, 10_000),
            Box::new(MemoryDedupe::new(Duration::from_secs(60), 1000)),
        );
        let t0 = Instant::now();
        let mut fx = Effects::default();
        core.admit(event("old"), 1, t0, &mut fx);
        core.admit(event("new"), 2, t0 + Duration::from_millis(600), &mut fx);
        assert!(core.sweep(t0 + Duration::from_millis(999)).is_empty());
        let expired = core.sweep(t0 + Duration::from_millis(1001));
        assert_eq!(expired.len(), 1);
        let (r, waiters) = expired.into_iter().next().expect("one route");
        assert_eq!(waiters.len(), 1, "only the record past its budget");
        core.answer(&r, waiters, Err(RouteError::Timeout), &mut fx);
        assert_eq!(fx.replies, vec![(1, Err(RouteError::Timeout))]);
        assert_eq!(core.pending(), 1);
        assert_eq!(
            core.admit(event("old"), 3, t0 + Duration::from_millis(1002), &mut fx),
            Some(route()),
            "a timed-out key is released"
        );
    }

    #[test]
    fn reset_returns_queued_senders_and_releases_keys_in_flight() {
        let (mut core, now) = (core(10), Instant::now());
        let mut fx = Effects::default();
        core.admit(event("sent"), 1, now, &mut fx);
        let _in_flight = send(&mut core, now);
        core.admit(event("queued"), 2, now, &mut fx);
        core.admit(event("sent"), 3, now, &mut fx); // waits on the one in flight
        assert_eq!(core.reset(), vec![2]);
        assert_eq!(core.pending(), 0);
        let mut fx = Effects::default();
        assert_eq!(core.admit(event("sent"), 4, now, &mut fx), Some(route()));
        assert_eq!(core.admit(event("queued"), 5, now, &mut fx), Some(route()));
        assert!(fx.replies.is_empty());
    }
}
