//! Admission of API calls: bearer auth, the per-tenant token bucket, injected 429s and 503s,
//! and latency.

use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use rand::Rng;

use super::auth::authenticate;
use super::error::ApiError;
use super::state::Shared;

/// A token bucket of `capacity` tokens refilled continuously at `capacity / 60` per second.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    capacity: f64,
    tokens: f64,
    refill_per_sec: f64,
    last_refill: Instant,
}

impl TokenBucket {
    /// A full bucket for a limit of `per_minute` calls per minute (`0` is treated as 1).
    pub fn full(per_minute: u32, now: Instant) -> TokenBucket {
        let capacity = f64::from(per_minute.max(1));
        TokenBucket {
            capacity,
            tokens: capacity,
            refill_per_sec: capacity / 60.0,
            last_refill: now,
        }
    }

    /// Tokens currently in the bucket (after refilling up to `now`).
    pub fn available(&mut self, now: Instant) -> f64 {
        self.refill(now);
        self.tokens
    }

    /// Takes one token at `now`.
    ///
    /// Errors: `Err(retry_after_secs)` when the bucket is empty: the whole seconds (at least
    /// 1, rounded up) until one token is available again.
    pub fn try_take(&mut self, now: Instant) -> Result<(), u64> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait_secs = (1.0 - self.tokens) / self.refill_per_sec;
            // The cast saturates; a u32 capacity keeps the wait under an hour anyway.
            Err((wait_secs.ceil() as u64).max(1))
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now
            .saturating_duration_since(self.last_refill)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.refill_per_sec).min(self.capacity);
        self.last_refill = now;
    }
}

/// Admits one API call, in this order: bearer token (401 [`ApiError::InvalidToken`]) →
/// the tenant's token bucket (429 [`ApiError::RateLimited`]) → the `throttle_rate` fault
/// (429 with `Retry-After: 1`) → the `error_rate` fault (503
/// [`ApiError::ServiceUnavailable`]) → the `latency_ms` fault (an async sleep).
///
/// The state lock is not held while sleeping.
pub async fn admit(req: &HttpRequest, shared: &Shared) -> Result<(), ApiError> {
    let latency_ms = check(req, shared, Instant::now())?;
    if latency_ms > 0 {
        actix_rt::time::sleep(Duration::from_millis(latency_ms)).await;
    }
    Ok(())
}

/// The synchronous part of [`admit`]: returns the latency to add, in ms.
fn check(req: &HttpRequest, shared: &Shared, now: Instant) -> Result<u64, ApiError> {
    let mut guard = shared.lock();
    // Reborrowed so the tenant (borrowed from `tokens`) and `buckets` are disjoint borrows.
    let state = &mut *guard;
    let tenant = authenticate(req, &state.tokens, now)?;
    let per_minute = state.faults.rate_limit_per_minute;
    let taken = match state.buckets.get_mut(tenant) {
        Some(bucket) => bucket.try_take(now),
        None => {
            let mut bucket = TokenBucket::full(per_minute, now);
            let taken = bucket.try_take(now);
            state.buckets.insert(tenant.to_owned(), bucket);
            taken
        }
    };
    taken.map_err(|retry_after_secs| ApiError::RateLimited { retry_after_secs })?;
    injected_fault(
        state.faults.throttle_rate,
        state.faults.error_rate,
        &mut rand::rng(),
    )?;
    Ok(state.faults.latency_ms)
}

/// Seconds a call refused by the `throttle_rate` fault is told to wait (`Retry-After`).
pub const THROTTLE_RETRY_AFTER_SECS: u64 = 1;

/// Rolls the injected faults for one call that passed the token bucket: with probability
/// `throttle_rate` a 429 [`ApiError::RateLimited`] (retry after
/// [`THROTTLE_RETRY_AFTER_SECS`]), else with probability `error_rate` a 503
/// [`ApiError::ServiceUnavailable`]. A rate of 0 never fires (and draws nothing), 1 always.
pub fn injected_fault(
    throttle_rate: f64,
    error_rate: f64,
    rng: &mut impl Rng,
) -> Result<(), ApiError> {
    if throttle_rate > 0.0 && rng.random::<f64>() < throttle_rate {
        return Err(ApiError::RateLimited {
            retry_after_secs: THROTTLE_RETRY_AFTER_SECS,
        });
    }
    if error_rate > 0.0 && rng.random::<f64>() < error_rate {
        return Err(ApiError::ServiceUnavailable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn throttle_rate_answers_about_its_fraction_with_a_one_second_retry() {
        let mut rng = StdRng::seed_from_u64(7);
        let throttled = (0..10_000)
            .filter(|_| injected_fault(0.3, 0.0, &mut rng).is_err())
            .count();
        assert!((2_700..3_300).contains(&throttled), "{throttled} throttled");
        assert_eq!(
            injected_fault(1.0, 0.0, &mut rng),
            Err(ApiError::RateLimited {
                retry_after_secs: 1
            })
        );
        assert_eq!(injected_fault(0.0, 0.0, &mut rng), Ok(()));
    }

    #[test]
    fn throttle_rate_is_decided_before_error_rate() {
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            assert!(matches!(
                injected_fault(1.0, 1.0, &mut rng),
                Err(ApiError::RateLimited { .. })
            ));
            assert_eq!(
                injected_fault(0.0, 1.0, &mut rng),
                Err(ApiError::ServiceUnavailable)
            );
        }
    }

    #[test]
    fn a_full_bucket_passes_a_burst_of_its_capacity_then_refuses() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(5, start);
        for _ in 0..5 {
            assert_eq!(bucket.try_take(start), Ok(()));
        }
        // 5 per minute refills one token every 12 s.
        assert_eq!(bucket.try_take(start), Err(12));
    }

    #[test]
    fn the_bucket_refills_continuously_at_capacity_per_minute() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(60, start);
        for _ in 0..60 {
            bucket.try_take(start).expect("burst of 60");
        }
        assert!(bucket.try_take(start).is_err());
        let half_second = start + Duration::from_millis(500);
        assert!((bucket.available(half_second) - 0.5).abs() < 1e-9);
        assert_eq!(bucket.try_take(half_second), Err(1));
        let later = start + Duration::from_millis(2_500);
        assert_eq!(bucket.try_take(later), Ok(()));
        assert_eq!(bucket.try_take(later), Ok(()));
        assert!(bucket.try_take(later).is_err());
    }

    #[test]
    fn the_bucket_never_holds_more_than_its_capacity() {
        let start = Instant::now();
        let mut bucket = TokenBucket::full(3, start);
        bucket.try_take(start).expect("token");
        let much_later = start + Duration::from_secs(3600);
        assert_eq!(bucket.available(much_later), 3.0);
    }

    #[test]
    fn retry_after_rounds_up_and_is_at_least_one_second() {
        let start = Instant::now();
        let mut fast = TokenBucket::full(6000, start);
        for _ in 0..6000 {
            fast.try_take(start).expect("burst");
        }
        // One token per 10 ms: still at least 1 s.
        assert_eq!(fast.try_take(start), Err(1));
        let mut slow = TokenBucket::full(1, start);
        slow.try_take(start).expect("token");
        assert_eq!(slow.try_take(start + Duration::from_millis(500)), Err(60));
    }
}
