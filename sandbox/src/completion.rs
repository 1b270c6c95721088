//! Completion webhooks of sub-flow executions: the event CXone sends when an execution ends,
//! and its delivery (with a few retries) to every registered webhook URL.

use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::join_all;
use serde_json::{json, Value};
use uuid::Uuid;

use super::execution_log::ExecutionStatus;

/// `source` of every completion event.
pub const COMPLETION_SOURCE: &str = "cxone.sandbox";

/// Attempts per webhook URL and event, the first included.
pub const DELIVERY_ATTEMPTS: u32 = 4;

/// Wait before the first retry; each later retry waits twice as long (200, 400, 800 ms).
pub const FIRST_RETRY_DELAY: Duration = Duration::from_millis(200);

/// Longest wait for one webhook POST (connect, send, response head).
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response body read (and discarded) per webhook POST.
const MAX_RESPONSE_BODY_BYTES: usize = 64 * 1024;

/// The completion event of an execution that ended with `status` (`Succeeded` →
/// `"completed"`, otherwise `"failed"`): `{"event_id": uuid, "source": "cxone.sandbox",
/// "data": {"subFlowId": data action id, "executionId", "status": "completed"|"failed"},
/// "timestamp": RFC 3339 UTC with millis}`.
pub fn completion_event(
    event_id: Uuid,
    data_action_id: &str,
    execution_id: &str,
    status: ExecutionStatus,
    timestamp: DateTime<Utc>,
) -> Value {
    let status = match status {
        ExecutionStatus::Succeeded => "completed",
        ExecutionStatus::Running | ExecutionStatus::Failed => "failed",
    };
    json!({
        "event_id": event_id.to_string(),
        "source": COMPLETION_SOURCE,
        "data": {
            "subFlowId": data_action_id,
            "executionId": execution_id,
            "status": status,
        },
        "timestamp": timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
    })
}

/// The wait before retry number `retry` (1-based): [`FIRST_RETRY_DELAY`] doubled each time.
pub fn retry_delay(retry: u32) -> Duration {
    FIRST_RETRY_DELAY.saturating_mul(1 << retry.saturating_sub(1).min(16))
}

/// POSTs `body` (JSON) to `url` until a 2xx answer, at most [`DELIVERY_ATTEMPTS`] times; a
/// transport error or any other status is retried after [`retry_delay`]. Every attempt
/// shares `body`'s buffer. Returns the attempts made and whether one was answered 2xx.
pub async fn deliver(client: &awc::Client, url: &str, event_id: &str, body: &Bytes) -> (u32, bool) {
    for attempt in 1..=DELIVERY_ATTEMPTS {
        let sent = client
            .post(url)
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .insert_header(("webhook-id", event_id))
            .send_body(body.clone())
            .await;
        let outcome = match sent {
            Ok(mut response) => {
                // Drain the body so the connection can be reused; its content does not matter.
                let _ = response.body().limit(MAX_RESPONSE_BODY_BYTES).await;
                Ok(response.status())
            }
            Err(error) => Err(error.to_string()),
        };
        match outcome {
            Ok(status) if status.is_success() => return (attempt, true),
            Ok(status) => log::debug!(
                "component=sandbox event=webhook_refused url={url} event_id={event_id} attempt={attempt} status={}; completion webhook not accepted",
                status.as_u16()
            ),
            Err(error) => log::debug!(
                "component=sandbox event=webhook_failed url={url} event_id={event_id} attempt={attempt} error={error}; completion webhook not delivered"
            ),
        }
        if attempt < DELIVERY_ATTEMPTS {
            actix_rt::time::sleep(retry_delay(attempt)).await;
        }
    }
    (DELIVERY_ATTEMPTS, false)
}

/// The client completion webhooks are POSTed with: one per server worker (registered as app
/// data), shared by every execution the worker ends. Requests time out after
/// [`DELIVERY_TIMEOUT`], redirects are not followed, and the number of simultaneous
/// connections is not limited.
#[derive(Clone)]
pub struct WebhookClient(pub awc::Client);

impl WebhookClient {
    /// A new client (build it on the worker that uses it: it is not `Send`).
    pub fn new() -> WebhookClient {
        WebhookClient(
            awc::Client::builder()
                .connector(awc::Connector::new().limit(0))
                .timeout(DELIVERY_TIMEOUT)
                .disable_redirects()
                .finish(),
        )
    }
}

impl Default for WebhookClient {
    fn default() -> Self {
        WebhookClient::new()
    }
}

/// Delivers `event`, whose `event_id` is `event_id`, to every URL at once (see [`deliver`]);
/// returns when each was delivered or gave up. Runs on its own spawned task, so it never
/// delays other executions.
pub async fn deliver_to_all(client: &awc::Client, urls: Vec<String>, event_id: &str, event: Value) {
    if urls.is_empty() {
        return;
    }
    let body = Bytes::from(event.to_string());
    let deliveries = urls.iter().map(|url| deliver(client, url, event_id, &body));
    for (url, (attempts, delivered)) in urls.iter().zip(join_all(deliveries).await) {
        if delivered {
            log::debug!(
                "component=sandbox event=webhook_delivered url={url} event_id={event_id} attempts={attempts}; completion webhook delivered"
            );
        } else {
            log::warn!(
                "component=sandbox event=webhook_abandoned url={url} event_id={event_id} attempts={attempts}; completion webhook given up"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_completion_event_has_the_documented_shape() {
        let event_id = Uuid::new_v4();
        let at = DateTime::parse_from_rfc3339("2025-01-02T03:04:05.678Z")
            .expect("timestamp")
            .with_timezone(&Utc);
        let event = completion_event(event_id, "sf-1", "ex-1", ExecutionStatus::Succeeded, at);
        assert_eq!(
            event,
            json!({
                "event_id": event_id.to_string(),
                "source": "cxone.sandbox",
                "data": {"subFlowId": "sf-1", "executionId": "ex-1", "status": "completed"},
                "timestamp": "2025-01-02T03:04:05.678Z",
            })
        );
        let failed = completion_event(event_id, "sf-1", "ex-1", ExecutionStatus::Failed, at);
        assert_eq!(failed["data"]["status"], "failed");
    }

    #[test]
    fn retries_wait_twice_as_long_each_time() {
        assert_eq!(retry_delay(1), Duration::from_millis(200));
        assert_eq!(retry_delay(2), Duration::from_millis(400));
        assert_eq!(retry_delay(3), Duration::from_millis(800));
        assert!(retry_delay(u32::MAX) >= retry_delay(3));
    }
}
