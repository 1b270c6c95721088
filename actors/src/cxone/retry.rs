//! Retry policy shared by every CXone call: exponential backoff with jitter (backon),
//! `Retry-After` honoured, a bounded number of attempts (`cxone.max_attempts`).

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

use crate::settings::CxoneSettings;

/// Delays between attempts: at most `max_attempts - 1` of them, starting at `initial`
/// (taken as `max` when above it), doubling up to `max`. With `jitter`, each delay gets a
/// random extra of up to 100% of itself (backon's jitter), so callers that failed together
/// do not retry together.
pub fn backoff(
    initial: Duration,
    max: Duration,
    max_attempts: u32,
    jitter: bool,
) -> impl Iterator<Item = Duration> {
    let builder = ExponentialBuilder::default()
        .with_min_delay(initial.min(max))
        .with_max_delay(max)
        .with_factor(2.0)
        .with_max_times(max_attempts.saturating_sub(1) as usize);
    if jitter {
        builder.with_jitter().build()
    } else {
        builder.build()
    }
}

/// Parses `Retry-After` given in seconds (the HTTP-date form is taken as 1 s), capped at
/// 10 minutes so a hostile value cannot park callers for ever.
pub fn parse_retry_after(value: Option<&str>) -> Option<Duration> {
    let value = value?.trim();
    let secs = match value.parse::<f64>() {
        Ok(s) if s.is_finite() && s >= 0.0 => s.min(600.0),
        _ if !value.is_empty() => 1.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// A response's `Retry-After` header ([`parse_retry_after`]).
pub fn retry_after(headers: &awc::http::header::HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get("retry-after").and_then(|v| v.to_str().ok()))
}

/// Whether an HTTP status is worth another attempt (429 and 5xx).
pub fn is_retryable(status: u16) -> bool {
    status == 429 || (500..600).contains(&status)
}

/// How a call is retried on 429, 5xx and transport errors.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First delay; doubles per attempt.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Whether delays get random jitter.
    pub jitter: bool,
}

impl RetryPolicy {
    /// The tenant's policy: `cxone.max_attempts`, `cxone.backoff_initial_ms` and
    /// `cxone.backoff_max_ms`, with jitter.
    pub fn tenant(s: &CxoneSettings) -> Self {
        RetryPolicy {
            max_attempts: s.max_attempts,
            initial: Duration::from_millis(s.backoff_initial_ms),
            max: Duration::from_millis(s.backoff_max_ms),
            jitter: true,
        }
    }

    /// How long to wait before the next attempt, given the backoff's `delay` and the
    /// server's `Retry-After`: with jitter the longer of the two (the server's wait is a
    /// floor), without it the server's wait when given (a fixed schedule yields to it).
    pub fn wait(&self, retry_after: Option<Duration>, delay: Duration) -> Duration {
        match retry_after {
            Some(ra) if self.jitter => ra.max(delay),
            Some(ra) => ra,
            None => delay,
        }
    }

    /// The delays between attempts.
    pub fn delays(&self) -> impl Iterator<Item = Duration> {
        backoff(self.initial, self.max, self.max_attempts, self.jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_yields_max_attempts_minus_one_growing_delays() {
        let delays: Vec<_> =
            backoff(Duration::from_millis(100), Duration::from_secs(1), 6, true).collect();
        assert_eq!(delays.len(), 5);
        assert!(delays.iter().all(|d| *d >= Duration::from_millis(100)));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(2)));
    }

    #[test]
    fn without_jitter_delays_double_up_to_the_cap() {
        // backon multiplies in f32: compare whole milliseconds.
        let ms = |d: Vec<Duration>| d.iter().map(Duration::as_millis).collect::<Vec<_>>();
        let delays = backoff(
            Duration::from_millis(100),
            Duration::from_millis(500),
            6,
            false,
        );
        assert_eq!(ms(delays.collect()), [100, 200, 400, 500, 500]);
        // A first delay above the cap is the cap.
        let delays = backoff(Duration::from_secs(5), Duration::from_secs(1), 3, false);
        assert_eq!(ms(delays.collect()), [1000, 1000]);
        assert_eq!(backoff(Duration::ZERO, Duration::ZERO, 1, false).count(), 0);
    }

    #[test]
    fn retry_after_is_read_in_seconds_and_capped() {
        assert_eq!(parse_retry_after(Some("2")), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(Some("99999")),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            parse_retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Some(Duration::from_secs(1))
        );
        assert_eq!(parse_retry_after(None), None);
    }

    #[test]
    fn only_429_and_5xx_are_retryable() {
        assert!(is_retryable(429) && is_retryable(503) && is_retryable(500));
        assert!(!is_retryable(409) && !is_retryable(404) && !is_retryable(302));
    }

    #[test]
    fn a_fixed_policy_doubles_without_jitter_up_to_its_cap() {
        let p = RetryPolicy {
            max_attempts: 4,
            initial: Duration::from_secs(1),
            max: Duration::from_secs(3),
            jitter: false,
        };
        let d: Vec<_> = p.delays().collect();
        assert_eq!(
            d,
            vec![
                Duration::from_secs(1),
                Duration::from_secs(2),
                Duration::from_secs(3)
            ]
        );
    }
}
