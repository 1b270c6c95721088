//! The per-tenant rate limit of the sandbox: a token bucket (admission in
//! [`limits`](crate::limits)).

use std::time::Instant;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
