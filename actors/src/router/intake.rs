//! The HTTP worker's side of the hop to the router: events submitted while a worker runs one
//! turn of its event loop go to the [`KafkaRouterActor`](super::KafkaRouterActor) as one [`RouteEvents`] message.
//!
//! The router runs on another thread. A message to it wakes that thread (an `eventfd` write
//! and a context switch) whenever it is idle, which at tens of thousands of events per second
//! it nearly always is between events: one message per event cost the service about a fifth
//! of its CPU per event. A worker reads every connection that became readable before it runs
//! the flush task spawned by the turn's first event, so events that arrive together leave
//! together: one wake per turn instead of one per event, and no added wait.
//!
//! One intake per HTTP worker thread (it is `!Send`: built in the `App` factory), sending to
//! the [`KafkaRouterActor`](super::KafkaRouterActor) through a `Recipient<RouteEvents>`. Its
//! [`ReplyChannel`] brings the outcomes back the same way, one message per router step.

use std::cell::RefCell;
use std::rc::Rc;

use actix::prelude::*;

use super::actor::RouteEvents;
use super::event::{RouteError, RouteEvent};
use super::replies::ReplyChannel;
use crate::metrics::METRICS;

/// Events per [`RouteEvents`] message at most; a fuller buffer is sent at once.
///
/// With the router's mailbox of 256 messages (`ROUTER_MAILBOX_MESSAGES`, beside the actor) this bounds the events waiting
/// in the mailbox to 4 096, as one message per event did before.
pub const MAX_EVENTS_PER_MESSAGE: usize = 16;

/// An HTTP worker's buffer of events for the router, and the channel of its replies.
pub struct RouterIntake {
    router: Recipient<RouteEvents>,
    buffer: RefCell<Vec<RouteEvent>>,
    replies: ReplyChannel,
}

impl RouterIntake {
    /// An intake sending to `router`; call from the worker thread that will use it, inside
    /// its actix runtime (the reply task is spawned there).
    pub fn new(router: Recipient<RouteEvents>) -> Rc<Self> {
        Rc::new(RouterIntake {
            router,
            buffer: RefCell::new(Vec::with_capacity(MAX_EVENTS_PER_MESSAGE)),
            replies: ReplyChannel::spawn_local(),
        })
    }

    /// Queues `event` for the router. It leaves at the end of the current turn of the
    /// worker's event loop (a task spawned on the worker's arbiter, which runs after the
    /// tasks already woken), or at once when [`MAX_EVENTS_PER_MESSAGE`] are buffered.
    ///
    /// Must be called inside the worker's actix runtime. A full mailbox answers every event
    /// of the message [`RouteError::QueueFull`], a stopped router [`RouteError::Stopped`],
    /// through their reply senders.
    pub fn submit(self: &Rc<Self>, event: RouteEvent) {
        let len = {
            let mut buffer = self.buffer.borrow_mut();
            buffer.push(event);
            buffer.len()
        };
        if len >= MAX_EVENTS_PER_MESSAGE {
            self.flush();
        } else if len == 1 {
            let intake = Rc::clone(self);
            actix_rt::spawn(async move { intake.flush() });
        }
    }

    /// Sends what is buffered as one message.
    pub fn flush(&self) {
        if self.buffer.borrow().is_empty() {
            return;
        }
        let events = std::mem::replace(
            &mut *self.buffer.borrow_mut(),
            Vec::with_capacity(MAX_EVENTS_PER_MESSAGE),
        );
        METRICS.intake_events.observe(events.len() as f64);
        let message = RouteEvents {
            events,
            replies: self.replies.clone(),
        };
        let (message, error) = match self.router.try_send(message) {
            Ok(()) => return,
            Err(SendError::Full(message)) => (message, RouteError::QueueFull),
            Err(SendError::Closed(message)) => (message, RouteError::Stopped),
        };
        // Refused on this thread: answered here, no reply message needed.
        for event in message.events {
            let _ = event.reply.send(Err(error.clone()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{DedupeKey, Reply, RouteOutcome};
    use tokio::sync::oneshot;

    /// Records the size of every message and answers each event `Duplicate`.
    #[derive(Default)]
    struct Collector {
        sizes: Vec<usize>,
        ids: Vec<String>,
    }

    impl Actor for Collector {
        type Context = Context<Self>;
    }

    impl Handler<RouteEvents> for Collector {
        type Result = ();

        fn handle(&mut self, msg: RouteEvents, _: &mut Self::Context) {
            self.sizes.push(msg.events.len());
            for e in msg.events {
                self.ids.push(e.event.data_action_id.clone());
                let _ = e.reply.send(Ok(RouteOutcome::Duplicate));
            }
        }
    }

    #[derive(Message)]
    #[rtype(result = "(Vec<usize>, Vec<String>)")]
    struct Seen;

    impl Handler<Seen> for Collector {
        type Result = MessageResult<Seen>;

        fn handle(&mut self, _: Seen, _: &mut Self::Context) -> Self::Result {
            MessageResult((self.sizes.clone(), self.ids.clone()))
        }
    }

    #[derive(Message)]
    #[rtype(result = "()")]
    struct Halt;

    impl Handler<Halt> for Collector {
        type Result = ();

        fn handle(&mut self, _: Halt, ctx: &mut Self::Context) {
            ctx.stop();
        }
    }

    fn event(i: usize) -> (RouteEvent, oneshot::Receiver<Reply>) {
        RouteEvent::new(
            DedupeKey::webhook_id(&i.to_string()),
            format!("da-{i}"),
            "created".into(),
            "t".into(),
            "{}".into(),
            None,
        )
    }

    /// Submits events `ids` in this turn; their reply receivers.
    fn submit(
        intake: &Rc<RouterIntake>,
        ids: std::ops::Range<usize>,
    ) -> Vec<oneshot::Receiver<Reply>> {
        ids.map(|i| {
            let (e, rx) = event(i);
            intake.submit(e);
            rx
        })
        .collect()
    }

    #[actix_rt::test]
    async fn events_of_one_turn_leave_as_one_message_in_order() {
        let collector = Collector::default().start();
        let intake = RouterIntake::new(collector.clone().recipient());
        let replies = submit(&intake, 0..5);
        for rx in replies {
            assert_eq!(rx.await.expect("a reply"), Ok(RouteOutcome::Duplicate));
        }
        let (sizes, ids) = collector.send(Seen).await.expect("the collector answers");
        assert_eq!(sizes, vec![5]);
        assert_eq!(ids, (0..5).map(|i| format!("da-{i}")).collect::<Vec<_>>());
    }

    #[actix_rt::test]
    async fn a_full_buffer_leaves_at_once() {
        let collector = Collector::default().start();
        let intake = RouterIntake::new(collector.clone().recipient());
        let n = MAX_EVENTS_PER_MESSAGE + 3;
        let replies = submit(&intake, 0..n);
        for rx in replies {
            assert!(rx.await.expect("a reply").is_ok());
        }
        let (sizes, _) = collector.send(Seen).await.expect("the collector answers");
        assert_eq!(sizes, vec![MAX_EVENTS_PER_MESSAGE, 3]);
    }

    #[actix_rt::test]
    async fn a_full_mailbox_answers_the_refused_message_queue_full() {
        let collector = Collector::create(|ctx| {
            ctx.set_mailbox_capacity(1);
            Collector::default()
        });
        // The collector has not run yet: its mailbox (capacity 1) fills, and the messages
        // after it are refused whole.
        let intake = RouterIntake::new(collector.clone().recipient());
        let replies = submit(&intake, 0..MAX_EVENTS_PER_MESSAGE * 4);
        let mut refused = 0;
        for rx in replies {
            match rx.await.expect("a reply") {
                Ok(_) => {}
                Err(RouteError::QueueFull) => refused += 1,
                Err(e) => panic!("unexpected {e}"),
            }
        }
        let (sizes, _) = collector.send(Seen).await.expect("the collector answers");
        let accepted: usize = sizes.iter().sum();
        assert!(refused > 0, "nothing refused: {sizes:?}");
        assert_eq!(
            refused % MAX_EVENTS_PER_MESSAGE,
            0,
            "refused by whole messages"
        );
        assert_eq!(accepted + refused, MAX_EVENTS_PER_MESSAGE * 4);
    }

    #[actix_rt::test]
    async fn a_stopped_router_answers_every_event_stopped() {
        let collector = Collector::default().start();
        let intake = RouterIntake::new(collector.clone().recipient());
        collector.send(Halt).await.expect("the collector stops");
        for _ in 0..10_000 {
            if !collector.connected() {
                break;
            }
            actix_rt::task::yield_now().await;
        }
        assert!(!collector.connected(), "the collector did not stop");
        let replies = submit(&intake, 0..3);
        for rx in replies {
            assert_eq!(rx.await.expect("a reply"), Err(RouteError::Stopped));
        }
    }
}
