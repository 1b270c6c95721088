//! Admission of API calls: bearer auth, the per-tenant token bucket, injected 429s and 503s,
//! and latency.

use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use rand::Rng;

use super::auth::authenticate;
use super::error::ApiError;
use super::state::{Shared, TokenBucket};

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
}
