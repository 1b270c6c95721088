//! The router's side of the hop back to the HTTP workers: the outcomes of one router step
//! (a [`RouteEvents`](super::RouteEvents) message, a produce response, a sweep) go to each
//! worker as one message.
//!
//! Each request waits on its own `oneshot` receiver, in a task of the worker that read it.
//! Completing that `oneshot` from the router's thread schedules the task from another thread,
//! and tokio's current-thread scheduler then wakes the worker's event loop with an `eventfd`
//! write: one system call per event on the router's thread, and as many wake-ups of the
//! worker. Measured with `strace -c` on the router's thread in the ingest bench: ~1.3
//! `write` calls per event, against ~0.3 `sendto` (produce requests) per event.
//!
//! Instead the router gathers the outcomes of one step in an [`Outbox`], by worker, and sends
//! each worker one [`ReplyChannel`] message; a task on the worker's thread completes the
//! `oneshot`s there, where waking a task is a push onto a local queue.

use tokio::sync::{mpsc, oneshot};

use super::event::Reply;

/// Outcomes for one HTTP worker, each with the sender its request waits on.
type Batch = Vec<(oneshot::Sender<Reply>, Reply)>;

/// The channel to one HTTP worker's reply task.
///
/// Unbounded, and bounded in effect: every reply in it belongs to an event the router
/// admitted, and those are bounded by `kafka.queue_capacity` and the router's mailbox.
#[derive(Debug, Clone)]
pub struct ReplyChannel(mpsc::UnboundedSender<Batch>);

impl ReplyChannel {
    /// A channel whose replies are handed to their requests by a task spawned on the calling
    /// thread's actix runtime (the HTTP worker's). The task ends when every sender is gone.
    ///
    /// Must be called inside an actix (or tokio `LocalSet`) runtime.
    pub fn spawn_local() -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<Batch>();
        actix_rt::spawn(async move {
            while let Some(batch) = rx.recv().await {
                for (sender, reply) in batch {
                    let _ = sender.send(reply);
                }
            }
        });
        ReplyChannel(tx)
    }

    /// Where `sender`'s outcome goes through this channel.
    pub fn reply_to(&self, sender: oneshot::Sender<Reply>) -> ReplyTo {
        ReplyTo {
            sender,
            channel: self.clone(),
        }
    }
}

/// Where one event's outcome goes: its request's sender, by way of its worker's channel.
/// Dropped without a reply, the request sees its sender gone (the router stopped).
#[derive(Debug)]
pub struct ReplyTo {
    sender: oneshot::Sender<Reply>,
    channel: ReplyChannel,
}

/// The outcomes of one router step, grouped by worker (a handful at most), sent by
/// [`Outbox::send`] as one message per worker.
#[derive(Debug, Default)]
pub struct Outbox {
    groups: Vec<(ReplyChannel, Batch)>,
}

impl Outbox {
    /// Adds `reply` for `to`.
    pub fn push(&mut self, to: ReplyTo, reply: Reply) {
        let ReplyTo { sender, channel } = to;
        match self
            .groups
            .iter_mut()
            .find(|(c, _)| c.0.same_channel(&channel.0))
        {
            Some((_, batch)) => batch.push((sender, reply)),
            None => self.groups.push((channel, vec![(sender, reply)])),
        }
    }

    /// Sends what was added, one message per worker. A worker that is gone takes its
    /// requests with it: their senders are dropped.
    pub fn send(self) {
        for (channel, batch) in self.groups {
            let _ = channel.0.send(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::{RouteError, RouteOutcome};

    #[actix_rt::test]
    async fn an_outbox_answers_every_request_of_every_worker() {
        let (a, b) = (ReplyChannel::spawn_local(), ReplyChannel::spawn_local());
        let mut outbox = Outbox::default();
        let mut receivers = Vec::new();
        for i in 0..6 {
            let (tx, rx) = oneshot::channel();
            let channel = if i % 2 == 0 { &a } else { &b };
            let reply = if i < 3 {
                Ok(RouteOutcome::Duplicate)
            } else {
                Err(RouteError::QueueFull)
            };
            outbox.push(channel.reply_to(tx), reply.clone());
            receivers.push((rx, reply));
        }
        assert_eq!(outbox.groups.len(), 2, "one group per worker");
        assert_eq!(outbox.groups[0].1.len(), 3);
        outbox.send();
        for (rx, want) in receivers {
            assert_eq!(rx.await.expect("a reply"), want);
        }
    }

    #[actix_rt::test]
    async fn a_dropped_reply_to_is_seen_as_a_closed_sender() {
        let channel = ReplyChannel::spawn_local();
        let (tx, rx) = oneshot::channel::<Reply>();
        drop(channel.reply_to(tx));
        assert!(rx.await.is_err());
    }
}
