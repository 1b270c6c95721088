//! POSTing an event to a configured URL with retries: the definition callback
//! (`definitions.callback_url`) and the delta replication webhook
//! (`deltas.replication_webhook_url`).

use std::time::Duration;

use awc::http::StatusCode;
use serde_json::Value;

/// The HTTP client for event POSTs (10 s per attempt); one per actor.
pub(crate) fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish()
}

/// How a POST ended.
pub(crate) struct Posted {
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's answer (a success ends the attempts), or why it got none.
    pub last: Result<StatusCode, String>,
}

/// POSTs `event` as JSON to `url` until a 2xx answer, at most `attempts` (at least 1) times,
/// sleeping `delay(attempt)` after each failed attempt but the last.
pub(crate) async fn post(
    http: &awc::Client,
    url: &str,
    event: &Value,
    attempts: u32,
    delay: impl Fn(u32) -> Duration,
) -> Posted {
    let attempts = attempts.max(1);
    let mut attempt = 1;
    loop {
        let last = match http.post(url).send_json(event).await {
            Ok(resp) => Ok(resp.status()),
            Err(e) => Err(e.to_string()),
        };
        if attempt == attempts || matches!(last, Ok(s) if s.is_success()) {
            return Posted {
                attempts: attempt,
                last,
            };
        }
        actix_rt::time::sleep(delay(attempt)).await;
        attempt += 1;
    }
}
