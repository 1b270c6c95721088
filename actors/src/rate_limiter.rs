//! RateLimiterActor: the client-side rate limit of one CXone tenant. A GCRA limiter
//! (governor) of `cxone.requests_per_minute` with `cxone.burst` (seed 002), and a global
//! pause: after a 429 every caller waits until `Retry-After` has passed.
//!
//! Callers ask for a slot with [`Acquire`]; the answer is immediate ([`Grant::Now`]) or a
//! wait ([`Grant::Wait`]) after which they ask again, so the actor never blocks and waiting
//! callers hold no mailbox slot. [`acquire`] wraps that loop.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use actix::prelude::*;
use governor::clock::Clock;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use crate::lifecycle;

/// Asks for one request slot.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "Grant")]
pub struct Acquire;

/// Answer to [`Acquire`].
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

/// The tenant's limiter.
pub struct RateLimiterActor {
    limiter: DefaultDirectRateLimiter,
    paused_until: Option<Instant>,
    restarts: u32,
}

impl RateLimiterActor {
    /// A limiter of `per_minute` sustained requests with bursts of `burst` (both at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        RateLimiterActor {
            limiter: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            paused_until: None,
            restarts: 0,
        }
    }

    /// Decides one [`Acquire`].
    fn grant(&mut self, now: Instant) -> Grant {
        if let Some(until) = self.paused_until {
            if until > now {
                return Grant::Wait(until - now);
            }
            self.paused_until = None;
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
}

impl Actor for RateLimiterActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        lifecycle::started("RateLimiterActor", self.restarts);
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        lifecycle::stopping("RateLimiterActor", self.restarts);
        Running::Stop
    }
}

impl Supervised for RateLimiterActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.restarts = lifecycle::restarted("RateLimiterActor", self.restarts);
    }
}

/// Takes a slot or says how long to wait.
impl Handler<Acquire> for RateLimiterActor {
    type Result = MessageResult<Acquire>;

    fn handle(&mut self, _: Acquire, _: &mut Self::Context) -> Self::Result {
        MessageResult(self.grant(Instant::now()))
    }
}

/// Pauses every caller until `retry_after` has passed.
impl Handler<Throttle> for RateLimiterActor {
    type Result = ();

    fn handle(&mut self, msg: Throttle, _: &mut Self::Context) {
        let until = Instant::now() + msg.retry_after;
        if self.paused_until.is_none_or(|current| current < until) {
            log::warn!(
                "actor=RateLimiterActor event=paused retry_after_ms={}",
                msg.retry_after.as_millis()
            );
            self.paused_until = Some(until);
        }
    }
}

crate::handle_stop_actor!(RateLimiterActor);

/// Waits until the limiter grants a slot.
///
/// Errors: the actor's mailbox is closed.
pub async fn acquire(limiter: &Addr<RateLimiterActor>) -> Result<(), MailboxError> {
    loop {
        match limiter.send(Acquire).await? {
            Grant::Now => return Ok(()),
            Grant::Wait(d) => actix_rt::time::sleep(d).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_and_the_next_request_waits() {
        let mut l = RateLimiterActor::new(60, 3);
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
        let mut l = RateLimiterActor::new(6000, 100);
        let now = Instant::now();
        l.paused_until = Some(now + Duration::from_secs(2));
        assert_eq!(l.grant(now), Grant::Wait(Duration::from_secs(2)));
        assert_eq!(l.grant(now + Duration::from_secs(3)), Grant::Now);
        assert_eq!(l.paused_until, None);
    }
}
