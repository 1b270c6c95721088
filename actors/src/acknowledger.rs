//! AcknowledgementActor: acknowledges routed events to CXone by `dataActionId` (seed 004),
//! in the background, bounded by the tenant's rate limit and never by ingestion.
//!
//! The queue holds at most `routing.ack_queue_capacity` ids; when full, a new id is dropped
//! and counted in the `dropped` metric (CXone redelivers an unacknowledged event, the dedupe
//! window answers `duplicate` and queues the acknowledgement again). The first drop of a burst
//! is logged at once with its id; the drops of the next [`DROP_LOG_INTERVAL`] are summed up in
//! one line when it ends, so an overload logs two lines a second, not one per event. At most
//! `routing.ack_concurrency` calls are in flight. 200 and 409 (already acknowledged) are
//! success; 429/5xx/transport errors are retried by the CXone client and, when its attempts
//! are spent (or at once on 408), the id goes back to the end of the queue and the queue
//! pauses ([`REQUEUE_PAUSE_MIN`], doubling with each further failure up to
//! [`REQUEUE_PAUSE_MAX`], plus jitter; the first success ends the run of pauses), so a CXone
//! that keeps failing is not called again at once for every queued id; any other 4xx,
//! and a request that cannot even be built (an id too long for a URL), is final: audited as
//! failed once by the client, counted `failed`, never requeued.
//!
//! Ids come from clients and may be long: log lines carry them cut to
//! [`text::LOG_ID_BYTES`] and error texts cut to [`text::LOG_ERROR_BYTES`].

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use actix::prelude::*;
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

use crate::cxone::{api, CxoneClient, CxoneError, CxoneHandle};
use crate::lifecycle::Lifecycle;
use crate::metrics::METRICS;
use crate::text;

/// Queues the acknowledgement of events: the router sends one per produce batch (and one
/// per duplicate), not one per event.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Acknowledge {
    /// The events' `dataActionId`s, queued in this order.
    pub data_action_ids: Vec<String>,
}

/// The queue's first pause after a requeued acknowledgement; each further failure before a
/// success doubles it.
pub const REQUEUE_PAUSE_MIN: Duration = Duration::from_secs(1);
/// The longest pause (before jitter, which adds up to as much again).
pub const REQUEUE_PAUSE_MAX: Duration = Duration::from_secs(60);

/// The pauses of one run of failures: [`REQUEUE_PAUSE_MIN`] doubling to [`REQUEUE_PAUSE_MAX`],
/// each with backon's jitter, without end.
fn requeue_pauses() -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(REQUEUE_PAUSE_MIN)
        .with_max_delay(REQUEUE_PAUSE_MAX)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .build()
}

/// How long drops after the first of a burst are counted before one line sums them up.
pub const DROP_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// The log lines of dropped acknowledgements (see the module doc). Plain state, driven by
/// the actor: [`DropLog::dropped`] for each drop, [`DropLog::summary`] when the interval the
/// first drop opened has ended.
#[derive(Debug, Default)]
struct DropLog {
    /// When the current interval ends; `None`: no interval open, the next drop is logged.
    until: Option<Instant>,
    /// Drops counted in the interval, and the last one's id (cut for the log).
    suppressed: u64,
    last_id: Option<String>,
}

/// What to do about one drop.
#[derive(Debug, PartialEq, Eq)]
enum DropLine {
    /// Log this line now and call [`DropLog::summary`] after [`DROP_LOG_INTERVAL`].
    Now(String),
    /// Counted for the summary.
    Counted,
}

impl DropLog {
    fn dropped(&mut self, id: &str, queue: usize, now: Instant) -> DropLine {
        match self.until {
            Some(until) if now < until => {
                self.suppressed += 1;
                self.last_id = Some(text::for_log(id));
                DropLine::Counted
            }
            _ => {
                self.until = Some(now + DROP_LOG_INTERVAL);
                DropLine::Now(format!(
                    "actor=AcknowledgementActor event=ack_dropped data_action_id={} queue={queue} reason=queue_full",
                    text::for_log(id)
                ))
            }
        }
    }

    /// The line summing up the interval's drops after the first (none when there were none);
    /// closes the interval, so the next drop is logged at once.
    fn summary(&mut self, queue: usize) -> Option<String> {
        self.until = None;
        let last = self.last_id.take()?;
        let count = std::mem::take(&mut self.suppressed);
        Some(format!(
            "actor=AcknowledgementActor event=ack_dropped count={count} last_data_action_id={last} queue={queue} reason=queue_full interval_ms={}",
            DROP_LOG_INTERVAL.as_millis()
        ))
    }
}

/// How an acknowledgement call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AckResult {
    Acknowledged,
    AlreadyAcknowledged,
    Failed,
    Requeue,
}

/// 200 and 409 are success; a request that cannot be built and a 4xx other than 408 and 429
/// are final (no attempt can change them); 408, 429, 5xx, transport and every other error go
/// back to the queue.
fn classify(result: &Result<(), CxoneError>) -> AckResult {
    match result {
        Ok(()) => AckResult::Acknowledged,
        Err(CxoneError::Request(_)) => AckResult::Failed,
        Err(e) => match e.status() {
            Some(409) => AckResult::AlreadyAcknowledged,
            Some(408 | 429) => AckResult::Requeue,
            Some(s) if (400..500).contains(&s) => AckResult::Failed,
            _ => AckResult::Requeue,
        },
    }
}

/// The acknowledgement queue and its workers.
pub struct AcknowledgementActor {
    cxone: CxoneHandle,
    client: Option<CxoneClient>,
    queue: VecDeque<String>,
    capacity: usize,
    concurrency: usize,
    /// Ids whose call is under way, one entry per call (a redelivered event's id can be in
    /// flight twice); requeued if the actor restarts meanwhile.
    in_flight: Vec<String>,
    /// The pauses of the current run of failures (`None`: the last call ended well).
    pauses: Option<ExponentialBackoff>,
    /// Whether the queue is paused (calls in flight go on).
    paused: bool,
    drops: DropLog,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl AcknowledgementActor {
    /// A queue of `capacity` ids drained by `concurrency` concurrent calls (both at least 1).
    pub fn new(cxone: CxoneHandle, capacity: usize, concurrency: usize) -> Self {
        AcknowledgementActor {
            cxone,
            client: None,
            queue: VecDeque::new(),
            capacity: capacity.max(1),
            concurrency: concurrency.max(1),
            in_flight: Vec::new(),
            pauses: None,
            paused: false,
            drops: DropLog::default(),
            lifecycle: Lifecycle::new("AcknowledgementActor"),
        }
    }

    /// Pauses the queue for the run of failures' next pause, unless it is paused already;
    /// the pause (`None`: already paused).
    fn pause(&mut self, ctx: &mut Context<Self>) -> Option<Duration> {
        if self.paused {
            return None;
        }
        let pause = self
            .pauses
            .get_or_insert_with(requeue_pauses)
            .next()
            .unwrap_or(REQUEUE_PAUSE_MAX);
        self.paused = true;
        ctx.run_later(pause, |act, ctx| {
            act.paused = false;
            act.pump(ctx);
        });
        Some(pause)
    }

    fn pump(&mut self, ctx: &mut Context<Self>) {
        while !self.paused && self.in_flight.len() < self.concurrency {
            let Some(id) = self.queue.pop_front() else {
                break;
            };
            self.in_flight.push(id.clone());
            let client = self
                .client
                .get_or_insert_with(|| self.cxone.client())
                .clone();
            let fut = async move {
                let result = api::acknowledge(&client, &id).await.map(|_| ());
                (id, result)
            };
            ctx.spawn(fut.into_actor(self).map(|(id, result), act, ctx| {
                if let Some(i) = act.in_flight.iter().position(|x| *x == id) {
                    act.in_flight.swap_remove(i);
                }
                let outcome = classify(&result);
                let label = match outcome {
                    AckResult::Acknowledged => "acknowledged",
                    AckResult::AlreadyAcknowledged => "already_acknowledged",
                    AckResult::Failed => "failed",
                    AckResult::Requeue => "requeued",
                };
                METRICS.acks.with_label_values(&[label]).inc();
                match (outcome, result) {
                    (AckResult::Failed, Err(e)) => log::warn!(
                        "actor=AcknowledgementActor event=ack_failed data_action_id={} error={}",
                        text::for_log(&id),
                        text::error_for_log(&e)
                    ),
                    (AckResult::Requeue, Err(e)) => {
                        let pause = act.pause(ctx).map_or_else(
                            || "already".to_string(),
                            |p| format!("{}ms", p.as_millis()),
                        );
                        log::warn!(
                            "actor=AcknowledgementActor event=ack_requeued data_action_id={} error={} paused={pause}",
                            text::for_log(&id),
                            text::error_for_log(&e)
                        );
                        act.enqueue(id, ctx);
                    }
                    (AckResult::Acknowledged | AckResult::AlreadyAcknowledged, _) => {
                        act.pauses = None;
                    }
                    _ => {}
                }
                act.pump(ctx);
            }));
        }
        METRICS.ack_queue.set(self.queue.len() as i64);
    }

    /// Queues `id`, or drops it (counted, and logged as [`DropLog`] says) when the queue is
    /// full.
    fn enqueue(&mut self, id: String, ctx: &mut Context<Self>) {
        if self.queue.len() >= self.capacity {
            METRICS.acks.with_label_values(&["dropped"]).inc();
            if let DropLine::Now(line) = self.drops.dropped(&id, self.queue.len(), Instant::now()) {
                log::warn!("{line}");
                ctx.run_later(DROP_LOG_INTERVAL, |act, _| {
                    if let Some(line) = act.drops.summary(act.queue.len()) {
                        log::warn!("{line}");
                    }
                });
            }
            return;
        }
        self.queue.push_back(id);
    }
}

impl Actor for AcknowledgementActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        self.lifecycle.started();
        self.pump(ctx);
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        Running::Stop
    }
}

impl Supervised for AcknowledgementActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.lifecycle.restarted();
        // A pause's end was scheduled on the old context: the new one starts unpaused.
        self.paused = false;
        // Calls in flight died with the old context: their ids go back to the front of the
        // queue (at-least-once); the queue itself is kept.
        for id in self.in_flight.drain(..) {
            self.queue.push_front(id);
        }
    }
}

/// Queues acknowledgements (each dropped when the queue is full).
impl Handler<Acknowledge> for AcknowledgementActor {
    type Result = ();

    fn handle(&mut self, msg: Acknowledge, ctx: &mut Self::Context) {
        for id in msg.data_action_ids {
            self.enqueue(id, ctx);
        }
        self.pump(ctx);
    }
}

// Its queue in the supervision view: ids waiting and ids being acknowledged (a graceful stop
// waits for this to reach 0).
crate::handle_stop_actor!(AcknowledgementActor, |a: &AcknowledgementActor| Some(
    a.queue.len() + a.in_flight.len()
));

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cxone::{TransportCause, TransportKind};

    fn status(s: u16) -> Result<(), CxoneError> {
        Err(CxoneError::Status {
            status: s,
            body: String::new(),
        })
    }

    #[test]
    fn a_burst_of_drops_logs_its_first_at_once_and_the_rest_in_one_summary() {
        let mut log = DropLog::default();
        let t0 = Instant::now();
        let first = log.dropped("da-0", 7, t0);
        assert_eq!(
            first,
            DropLine::Now(
                "actor=AcknowledgementActor event=ack_dropped data_action_id=da-0 queue=7 reason=queue_full".into()
            )
        );
        for i in 1..1000 {
            let at = t0 + DROP_LOG_INTERVAL * i / 1000;
            assert_eq!(log.dropped(&format!("da-{i}"), 7, at), DropLine::Counted);
        }
        let summary = log.summary(7).expect("a summary");
        assert!(
            summary.contains("count=999 last_data_action_id=da-999 queue=7"),
            "{summary}"
        );
        // The interval is closed: the next drop is logged at once, and an interval without
        // further drops sums nothing up.
        let later = t0 + DROP_LOG_INTERVAL * 2;
        assert!(matches!(log.dropped("da-x", 7, later), DropLine::Now(_)));
        assert_eq!(log.summary(7), None);
    }

    #[test]
    fn a_drop_after_the_interval_opens_a_new_one() {
        let mut log = DropLog::default();
        let t0 = Instant::now();
        assert!(matches!(log.dropped("a", 1, t0), DropLine::Now(_)));
        // The summary timer has not run yet, but the interval is over.
        assert!(matches!(
            log.dropped("b", 1, t0 + DROP_LOG_INTERVAL),
            DropLine::Now(_)
        ));
    }

    #[test]
    fn a_409_is_success_other_4xx_and_unbuildable_requests_are_final_408_429_5xx_requeue() {
        assert_eq!(classify(&Ok(())), AckResult::Acknowledged);
        assert_eq!(classify(&status(409)), AckResult::AlreadyAcknowledged);
        for final_status in [400, 401, 403, 404, 410, 413, 414, 422, 499] {
            assert_eq!(
                classify(&status(final_status)),
                AckResult::Failed,
                "{final_status}"
            );
        }
        for retried in [408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(&status(retried)), AckResult::Requeue, "{retried}");
        }
        assert_eq!(
            classify(&Err(CxoneError::Transport(TransportCause::new(
                TransportKind::Send,
                "reset"
            )))),
            AckResult::Requeue
        );
        assert_eq!(
            classify(&Err(CxoneError::Request(TransportCause::new(
                TransportKind::Http,
                "uri too long"
            )))),
            AckResult::Failed
        );
    }

    #[test]
    fn drop_lines_carry_long_ids_cut() {
        let mut log = DropLog::default();
        let t0 = Instant::now();
        let id = "d".repeat(70_000);
        let DropLine::Now(line) = log.dropped(&id, 1, t0) else {
            panic!("the first drop is logged")
        };
        assert!(line.len() < 200, "{} bytes", line.len());
        assert_eq!(log.dropped(&id, 1, t0), DropLine::Counted);
        let summary = log.summary(1).expect("a summary");
        assert!(summary.len() < 250, "{} bytes", summary.len());
    }
}
