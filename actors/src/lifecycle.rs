//! Lifecycle logging shared by every supervised actor, so supervision can be watched from
//! the logs: `actor=<Name> event=started|stopping|restarted restarts=<n>` (a restart also
//! with its `cause`), and asked for ([`GetLifecycle`]: the supervision view, `GET /actors`).

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
    /// Why the actor is stopping, when it was told ([`StopActor`]).
    stop_cause: Option<&'static str>,
    /// The last restart: when (RFC 3339) and why.
    last_restart: Option<LastRestart>,
}

/// A restart: when (RFC 3339, ms, UTC) and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct LastRestart {
    /// When.
    #[schema(format = DateTime)]
    pub at: String,
    /// Why: `stopped on request (StopActor)`, or `the actor stopped` when it stopped itself.
    pub cause: &'static str,
}

/// What [`GetLifecycle`] answers: one line of the supervision view.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LifecycleReport {
    /// The actor's name.
    pub actor: &'static str,
    /// Restarts by its supervisor so far.
    pub restarts: u32,
    /// The last restart, if any.
    pub last_restart: Option<LastRestart>,
    /// What waits in its own queue, for actors that keep one (the router's records accepted
    /// and not yet answered, the acknowledgements waiting); `None` otherwise.
    pub queue: Option<usize>,
}

/// Asks a supervised actor for its [`LifecycleReport`].
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "LifecycleReport")]
pub struct GetLifecycle;

/// Why an actor told to stop ([`StopActor`]) was restarted.
pub const STOPPED_ON_REQUEST: &str = "stopped on request (StopActor)";

impl Lifecycle {
    /// The lifecycle of a new actor named `actor`, never restarted.
    pub fn new(actor: &'static str) -> Self {
        Lifecycle {
            actor,
            restarts: 0,
            stop_cause: None,
            last_restart: None,
        }
    }

    /// Notes why the actor is about to stop (the cause its restart reports).
    pub fn stopping_because(&mut self, cause: &'static str) {
        self.stop_cause = Some(cause);
    }

    /// The supervision view's line, with `queue` as the actor reports it.
    pub fn report(&self, queue: Option<usize>) -> LifecycleReport {
        LifecycleReport {
            actor: self.actor,
            restarts: self.restarts,
            last_restart: self.last_restart.clone(),
            queue,
        }
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

    /// Counts the restart (the `actor_restarts` metric too), remembers when and why, and logs
    /// `event=restarted` with the count and the cause.
    pub fn restarted(&mut self) {
        self.restarts = self.restarts.saturating_add(1);
        METRICS
            .actor_restarts
            .with_label_values(&[self.actor])
            .inc();
        let cause = self.stop_cause.take().unwrap_or("the actor stopped");
        self.last_restart = Some(LastRestart {
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            cause,
        });
        log::warn!(
            "actor={} event=restarted restarts={} cause=\"{cause}\"",
            self.actor,
            self.restarts
        );
    }
}

/// Implements [`StopActor`] and [`GetLifecycle`] for an actor with a `lifecycle` field: the
/// first stops it (its supervisor restarts it, the cause noted), the second answers its
/// [`LifecycleReport`], with the queue depth `$queue(&self)` when given.
#[macro_export]
macro_rules! handle_stop_actor {
    ($actor:ty) => {
        $crate::handle_stop_actor!($actor, |_: &$actor| None);
    };
    ($actor:ty, $queue:expr) => {
        /// Stops the actor (its supervisor restarts it).
        impl actix::Handler<$crate::lifecycle::StopActor> for $actor {
            type Result = ();

            fn handle(&mut self, _: $crate::lifecycle::StopActor, ctx: &mut Self::Context) {
                self.lifecycle
                    .stopping_because($crate::lifecycle::STOPPED_ON_REQUEST);
                actix::ActorContext::stop(ctx);
            }
        }

        /// Its line of the supervision view.
        impl actix::Handler<$crate::lifecycle::GetLifecycle> for $actor {
            type Result = actix::MessageResult<$crate::lifecycle::GetLifecycle>;

            fn handle(
                &mut self,
                _: $crate::lifecycle::GetLifecycle,
                _: &mut Self::Context,
            ) -> Self::Result {
                let queue: Option<usize> = ($queue)(&*self);
                actix::MessageResult(self.lifecycle.report(queue))
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
