//! Lifecycle logging shared by every supervised actor, so supervision can be watched from
//! the logs: `actor=<Name> event=started|stopping|restarted restarts=<n>`.

use actix::prelude::*;

use crate::metrics::METRICS;

/// Stops the receiving actor; its supervisor restarts it. Lets an operator (or a test) force a
/// restart and watch recovery. Handled by every supervised actor.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct StopActor;

/// A supervised actor's lifecycle: its name and how often its supervisor restarted it. Each
/// supervised actor keeps one and calls [`started`](Lifecycle::started) from
/// `Actor::started`, [`stopping`](Lifecycle::stopping) from `Actor::stopping` and
/// [`restarted`](Lifecycle::restarted) from `Supervised::restarting`, so every actor logs the
/// same lines: `actor=<Name> event=started|stopping|restarted restarts=<n>`.
#[derive(Debug, Clone)]
pub struct Lifecycle {
    actor: &'static str,
    restarts: u32,
}

impl Lifecycle {
    /// The lifecycle of a new actor named `actor`, never restarted.
    pub fn new(actor: &'static str) -> Self {
        Lifecycle { actor, restarts: 0 }
    }

    /// Restarts so far.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Logs `event=started`.
    pub fn started(&self) {
        log::info!(
            "actor={} event=started restarts={}",
            self.actor,
            self.restarts
        );
    }

    /// Logs `event=stopping`.
    pub fn stopping(&self) {
        log::info!(
            "actor={} event=stopping restarts={}",
            self.actor,
            self.restarts
        );
    }

    /// Counts the restart (the `actor_restarts` metric too) and logs `event=restarted`.
    pub fn restarted(&mut self) {
        self.restarts = self.restarts.saturating_add(1);
        METRICS
            .actor_restarts
            .with_label_values(&[self.actor])
            .inc();
        log::warn!(
            "actor={} event=restarted restarts={}",
            self.actor,
            self.restarts
        );
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_are_counted_and_metered_per_actor() {
        let mut lifecycle = Lifecycle::new("LifecycleTestActor");
        let metric = || {
            METRICS
                .actor_restarts
                .with_label_values(&["LifecycleTestActor"])
                .get()
        };
        let before = metric();
        lifecycle.started();
        lifecycle.restarted();
        lifecycle.restarted();
        lifecycle.stopping();
        assert_eq!(lifecycle.restarts(), 2);
        assert_eq!(metric() - before, 2);
    }
}
