//! RateLimiterActor: the client-side rate limit of one CXone tenant. A GCRA limiter
//! (governor) of `cxone.requests_per_minute` with `cxone.burst` (seed 002), and a global
//! pause: after a 429 every caller waits until `Retry-After` has passed.
//!
//! The actor owns a [`RateLimit`] (the GCRA state and the pause deadline) and shares it with
//! the CXone client, which takes slots from it directly — no message per call: a slot is
//! granted at once ([`Grant::Now`]) or a wait is returned ([`Grant::Wait`]) after which the
//! caller asks again, so nothing blocks. A 429 reaches the actor as [`Throttle`].

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::lifecycle::Lifecycle;

/// Answer to [`RateLimit::grant`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// The slot is taken: send now.
    Now,
    /// No slot yet: wait this long, then ask again.
    Wait(Duration),
}

/// Reports a 429: every caller pauses for `retry_after`.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Throttle {
    /// How long the API asked us to wait (`Retry-After`).
    pub retry_after: Duration,
}

/// The limit of one tenant, shared by the actor and the CXone client: a GCRA limiter and the
/// deadline of the current 429 pause.
pub struct RateLimit {
    limiter: DefaultDirectRateLimiter,
    epoch: Instant,
    /// Milliseconds after `epoch` until which every caller waits (0: no pause).
    paused_until_ms: AtomicU64,
}

impl RateLimit {
    /// `per_minute` sustained requests with bursts of `burst` (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        RateLimit {
            limiter: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            epoch: Instant::now(),
            paused_until_ms: AtomicU64::new(0),
        }
    }

    fn millis(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch).as_millis() as u64
    }

    /// Takes a slot, or says how long to wait.
    pub fn grant(&self, now: Instant) -> Grant {
        let paused = self.paused_until_ms.load(Ordering::Acquire);
        let now_ms = self.millis(now);
        if paused > now_ms {
            return Grant::Wait(Duration::from_millis(paused - now_ms));
        }
        match self.limiter.check() {
            Ok(()) => Grant::Now,
            Err(not_until) => Grant::Wait(
                not_until
                    .wait_time_from(self.limiter.clock().now())
                    .max(Duration::from_millis(1)),
            ),
        }
    }

    /// Pauses every caller until `retry_after` from now (a later pause wins); true when it
    /// moved the deadline.
    pub fn pause(&self, retry_after: Duration) -> bool {
        let until = self.millis(Instant::now() + retry_after);
        self.paused_until_ms.fetch_max(until, Ordering::AcqRel) < until
    }
}

/// Waits until `limit` grants a slot.
pub async fn acquire_from(limit: &RateLimit) {
    loop {
        match limit.grant(Instant::now()) {
            Grant::Now => return,
            Grant::Wait(d) => actix_rt::time::sleep(d).await,
        }
    }
}

/// The tenant's limiter.
pub struct RateLimiterActor {
    limit: Arc<RateLimit>,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl RateLimiterActor {
    /// A limiter of `per_minute` sustained requests with bursts of `burst` (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        RateLimiterActor {
            limit: Arc::new(RateLimit::new(per_minute, burst)),
            lifecycle: Lifecycle::new("RateLimiterActor"),
        }
    }

    /// The limit this actor owns, for callers that take slots directly.
    pub fn shared(&self) -> Arc<RateLimit> {
        self.limit.clone()
    }
}

impl Actor for RateLimiterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.lifecycle.started();
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        Running::Stop
    }
}

impl Supervised for RateLimiterActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.lifecycle.restarted();
    }
}

/// Pauses every caller until `retry_after` has passed.
impl Handler<Throttle> for RateLimiterActor {
    type Result = ();

    fn handle(&mut self, msg: Throttle, _: &mut Self::Context) {
        if self.limit.pause(msg.retry_after) {
            log::warn!(
                "actor=RateLimiterActor event=paused retry_after_ms={}",
                msg.retry_after.as_millis()
            );
        }
    }
}

crate::handle_stop_actor!(RateLimiterActor);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_and_the_next_request_waits() {
        let l = RateLimit::new(60, 3);
        let now = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.grant(now), Grant::Now);
        }
        match l.grant(now) {
            Grant::Wait(d) => {
                assert!(d > Duration::from_millis(500) && d <= Duration::from_secs(1))
            }
            Grant::Now => panic!("fourth request in a burst of 3 must wait"),
        }
    }

    #[test]
    fn a_throttle_pauses_every_caller_until_retry_after() {
        let l = RateLimit::new(6000, 100);
        let now = Instant::now();
        assert!(l.pause(Duration::from_secs(2)));
        assert!(
            !l.pause(Duration::from_secs(1)),
            "an earlier deadline does not shorten a pause"
        );
        match l.grant(now) {
            Grant::Wait(d) => {
                assert!(d > Duration::from_millis(1900) && d <= Duration::from_secs(2))
            }
            Grant::Now => panic!("paused"),
        }
        assert_eq!(l.grant(now + Duration::from_secs(3)), Grant::Now);
    }
}
