//! Lifecycle logging shared by every supervised actor, so supervision can be watched from
//! the logs: `actor=<Name> event=started|stopping|restarted restarts=<n>`.

use actix::prelude::*;

use crate::metrics::METRICS;

/// Stops the receiving actor; its supervisor restarts it. Lets an operator (or a test) force a
/// restart and watch recovery. Handled by every supervised actor.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopActor;

/// Logs `event=started`.
pub fn started(actor: &str, restarts: u32) {
    log::info!("actor={actor} event=started restarts={restarts}");
}

/// Logs `event=stopping`.
pub fn stopping(actor: &str, restarts: u32) {
    log::info!("actor={actor} event=stopping restarts={restarts}");
}

/// Counts and logs `event=restarted`; returns the new restart count.
pub fn restarted(actor: &str, restarts: u32) -> u32 {
    let restarts = restarts.saturating_add(1);
    METRICS.actor_restarts.with_label_values(&[actor]).inc();
    log::warn!("actor={actor} event=restarted restarts={restarts}");
    restarts
}

/// Implements [`StopActor`] for an actor: the handler stops it, and its supervisor restarts it.
#[macro_export]
macro_rules! handle_stop_actor {
    ($actor:ty) => {
        /// Stops the actor (its supervisor restarts it).
        impl actix::Handler<$crate::lifecycle::StopActor> for $actor {
            type Result = ();

            fn handle(&mut self, _: $crate::lifecycle::StopActor, ctx: &mut Self::Context) {
                actix::ActorContext::stop(ctx);
            }
        }
    };
}
