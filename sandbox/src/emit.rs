//! `POST /sandbox/emit`: the sandbox acts as CXone and POSTs Data Action webhook events.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use futures::stream::{self, StreamExt};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::events::{EventGenerator, GeneratedEvent};
use super::signing::{sign, SigningKey};

/// Largest `count` one emit call accepts.
pub const MAX_EMIT_COUNT: u32 = 1_000_000;

/// Largest `concurrency` one emit call accepts.
pub const MAX_EMIT_CONCURRENCY: u32 = 512;

/// Longest wait for one webhook POST (connect, send, response head), after which it counts
/// as a transport error.
pub const EMIT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response body read (and discarded) per webhook POST.
const MAX_RESPONSE_BODY_BYTES: usize = 1 << 20;

/// A validated `POST /sandbox/emit` body. Its `Debug` does not show the secret.
#[derive(Clone, PartialEq)]
pub struct EmitRequest {
    /// Where to POST the events: an `http://` URL (the client has no TLS).
    pub target_url: String,
    /// Number of events, 1..=1_000_000.
    pub count: u32,
    /// Most POSTs in flight at once, 1..=512 (default 1).
    pub concurrency: u32,
    /// Standard Webhooks signing secret, read as a Standard Webhooks sender reads it
    /// (`whsec_<base64>` decoded into the key, any other text as its UTF-8 bytes; see
    /// [`SigningKey::from_secret`]); without it no `webhook-signature` is sent.
    pub secret: Option<String>,
    /// Seed making the events deterministic (except timestamps).
    pub seed: Option<u64>,
}

impl std::fmt::Debug for EmitRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmitRequest")
            .field("target_url", &self.target_url)
            .field("count", &self.count)
            .field("concurrency", &self.concurrency)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("seed", &self.seed)
            .finish()
    }
}

impl EmitRequest {
    /// Parses `{"target_url": string, "count": u32, "concurrency"?: u32, "secret"?: string,
    /// "seed"?: u64}`. Errors: [`ApiError::InvalidEmit`] naming every bad or unknown field
    /// (a `whsec_` secret that is not base64 among them).
    pub fn parse(body: &[u8]) -> Result<EmitRequest, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::InvalidEmit(format!("body is not valid JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(ApiError::InvalidEmit(
                "body must be a JSON object".to_owned(),
            ));
        };
        Self::from_fields(&fields)
    }

    fn from_fields(fields: &Map<String, Value>) -> Result<EmitRequest, ApiError> {
        let mut problems = Vec::new();
        for name in fields.keys() {
            if !["target_url", "count", "concurrency", "secret", "seed"].contains(&name.as_str()) {
                problems.push(format!("field `{name}` is not known"));
            }
        }
        let target_url = match fields.get("target_url").map(Value::as_str) {
            Some(Some(url)) if is_http_url(url) => url.to_owned(),
            Some(_) => {
                problems.push("field `target_url` must be an http:// URL with a host".to_owned());
                String::new()
            }
            None => {
                problems.push("field `target_url` is required".to_owned());
                String::new()
            }
        };
        let count = match fields.get("count").map(Value::as_u64) {
            Some(Some(n)) if (1..=u64::from(MAX_EMIT_COUNT)).contains(&n) => n as u32,
            Some(_) => {
                problems.push("field `count` must be an integer from 1 to 1000000".to_owned());
                0
            }
            None => {
                problems.push("field `count` is required".to_owned());
                0
            }
        };
        let concurrency = match fields.get("concurrency").map(Value::as_u64) {
            None => 1,
            Some(Some(n)) if (1..=u64::from(MAX_EMIT_CONCURRENCY)).contains(&n) => n as u32,
            Some(_) => {
                problems.push("field `concurrency` must be an integer from 1 to 512".to_owned());
                0
            }
        };
        let secret = match fields.get("secret") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => match SigningKey::from_secret(s) {
                Ok(_) => Some(s.clone()),
                Err(e) => {
                    problems.push(format!("field `secret`: {e}"));
                    None
                }
            },
            Some(_) => {
                problems.push("field `secret` must be a non-empty string".to_owned());
                None
            }
        };
        let seed = match fields.get("seed") {
            None | Some(Value::Null) => None,
            Some(value) => match value.as_u64() {
                Some(n) => Some(n),
                None => {
                    problems.push("field `seed` must be an unsigned integer".to_owned());
                    None
                }
            },
        };
        if !problems.is_empty() {
            return Err(ApiError::InvalidEmit(problems.join("; ")));
        }
        Ok(EmitRequest {
            target_url,
            count,
            concurrency,
            secret,
            seed,
        })
    }
}

/// Whether `url` is an absolute `http://` URL with a host (the sandbox's HTTP client sends
/// webhooks without TLS).
pub fn is_http_url(url: &str) -> bool {
    url.parse::<awc::http::Uri>()
        .is_ok_and(|uri| uri.scheme_str() == Some("http") && uri.host().is_some())
}

/// The outcome of a run: answers per status and the latency of each POST.
#[derive(Debug, Clone, Default)]
pub struct EmitReport {
    statuses: BTreeMap<String, u64>,
    latencies_ms: Vec<f64>,
}

impl EmitReport {
    /// Records one POST: its status (`None` for a transport error) and latency in ms.
    pub fn record(&mut self, status: Option<u16>, latency_ms: f64) {
        let key = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        *self.statuses.entry(key).or_insert(0) += 1;
        self.latencies_ms.push(latency_ms);
    }

    /// The response body: `{"sent": n, "statuses": {"<status>": n, ..., "error": k},
    /// "elapsed_ms": ms, "latency_ms": {"p50", "p99", "max"}}`; `error` (transport errors)
    /// is always present, statuses only when seen; latencies are f64 milliseconds
    /// (nearest-rank percentiles, 0 when nothing was sent).
    pub fn into_json(mut self, elapsed: Duration) -> Value {
        self.latencies_ms.sort_by(f64::total_cmp);
        self.statuses.entry("error".to_owned()).or_insert(0);
        let sorted = &self.latencies_ms;
        json!({
            "sent": sorted.len(),
            "statuses": self.statuses,
            "elapsed_ms": u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "latency_ms": {
                "p50": percentile(sorted, 0.50),
                "p99": percentile(sorted, 0.99),
                "max": sorted.last().copied().unwrap_or(0.0),
            },
        })
    }
}

/// Nearest-rank percentile `p` (0..=1) of ascending `sorted` values; 0 when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// POSTs one event; returns its status (`None` on a transport error) and latency in ms.
async fn deliver(
    client: &awc::Client,
    request: &EmitRequest,
    key: Option<&SigningKey>,
    generated: GeneratedEvent,
) -> (Option<u16>, f64) {
    let timestamp = Utc::now().timestamp();
    let body = generated.event.to_string();
    let mut post = client
        .post(request.target_url.as_str())
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .insert_header(("webhook-id", generated.webhook_id.as_str()))
        .insert_header(("webhook-timestamp", timestamp.to_string()));
    if let Some(key) = key {
        let signature = sign(key, &generated.webhook_id, timestamp, body.as_bytes());
        post = post.insert_header(("webhook-signature", signature));
    }
    let started = Instant::now();
    let status = match post.send_body(body).await {
        Ok(mut response) => {
            // Drain the body so the connection can be reused; its content does not matter.
            let _ = response.body().limit(MAX_RESPONSE_BODY_BYTES).await;
            Some(response.status().as_u16())
        }
        Err(_) => None,
    };
    (status, started.elapsed().as_secs_f64() * 1000.0)
}

/// Sends `request.count` events with at most `request.concurrency` in flight; returns after
/// every POST was answered or failed.
pub async fn run_emit(request: &EmitRequest) -> EmitReport {
    let concurrency = request.concurrency.max(1) as usize;
    let client = awc::Client::builder()
        .connector(awc::Connector::new().limit(concurrency))
        .timeout(EMIT_REQUEST_TIMEOUT)
        .disable_redirects()
        .finish();
    let client = &client;
    // `parse` refused a secret that gives no key.
    let key = request
        .secret
        .as_deref()
        .and_then(|s| SigningKey::from_secret(s).ok());
    let key = key.as_ref();
    let mut generator = EventGenerator::new(request.seed);
    let events = (0..request.count).map(move |_| generator.next_event(Utc::now()));
    let mut outcomes = stream::iter(events)
        .map(|generated| deliver(client, request, key, generated))
        .buffer_unordered(concurrency);
    let mut report = EmitReport::default();
    while let Some((status, latency_ms)) = outcomes.next().await {
        report.record(status, latency_ms);
    }
    report
}

/// `POST /sandbox/emit`: acts as CXone and POSTs `count` Data Action webhook events (seed 004
/// shape, see [`EventGenerator`]) to `target_url`, with `Content-Type: application/json`,
/// `webhook-id`, `webhook-timestamp` and, with a `secret`, `webhook-signature` (see
/// [`sign`]). Answers once all are answered: see [`EmitReport::into_json`].
/// Errors: 400 `invalid_emit` naming the bad field.
pub async fn emit(body: web::Bytes) -> Result<HttpResponse, ApiError> {
    let request = EmitRequest::parse(&body)?;
    let started = Instant::now();
    let report = run_emit(&request).await;
    let elapsed = started.elapsed();
    log::info!(
        "component=sandbox event=emitted count={} concurrency={} elapsed_ms={}; webhook events sent",
        request.count,
        request.concurrency,
        elapsed.as_millis()
    );
    Ok(HttpResponse::Ok().json(report.into_json(elapsed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(body: &str) -> String {
        match EmitRequest::parse(body.as_bytes()) {
            Err(ApiError::InvalidEmit(message)) => message,
            other => panic!("expected invalid_emit for {body}, got {other:?}"),
        }
    }

    #[test]
    fn a_minimal_emit_request_gets_the_defaults() {
        let request = EmitRequest::parse(br#"{"target_url": "http://127.0.0.1:9/x", "count": 3}"#)
            .expect("valid");
        assert_eq!(request.count, 3);
        assert_eq!(request.concurrency, 1);
        assert_eq!(request.secret, None);
        assert_eq!(request.seed, None);
        let signed = EmitRequest::parse(
            br#"{"target_url": "http://127.0.0.1:9/x", "count": 1, "secret": "hunter2"}"#,
        )
        .expect("valid");
        assert_eq!(signed.secret.as_deref(), Some("hunter2"));
        let text = format!("{signed:?}");
        assert!(
            !text.contains("hunter2") && text.contains("<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn emit_validation_names_the_bad_field() {
        assert!(invalid(r#"{"count": 1}"#).contains("`target_url`"));
        assert!(
            invalid(r#"{"target_url": "https://x.test/", "count": 1}"#).contains("`target_url`")
        );
        assert!(invalid(r#"{"target_url": "not a url", "count": 1}"#).contains("`target_url`"));
        assert!(invalid(r#"{"target_url": "http://h/", "count": 0}"#).contains("`count`"));
        assert!(invalid(r#"{"target_url": "http://h/", "count": 1000001}"#).contains("`count`"));
        let text = invalid(r#"{"target_url": "http://h/", "count": 1, "concurrency": 513}"#);
        assert!(text.contains("`concurrency`"));
        let text = invalid(r#"{"target_url": "http://h/", "count": 1, "seed": -1}"#);
        assert!(text.contains("`seed`"));
        let text = invalid(r#"{"target_url": "http://h/", "count": 1, "secret": 5}"#);
        assert!(text.contains("`secret`"));
        let text = invalid(r#"{"target_url": "http://h/", "count": 1, "secret": "whsec_x!y"}"#);
        assert!(text.contains("`secret`") && !text.contains("x!y"), "{text}");
        let text = invalid(r#"{"target_url": "http://h/", "count": 1, "extra": true}"#);
        assert!(text.contains("`extra`"));
        invalid("[]");
        invalid("nope");
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 0.50), 50.0);
        assert_eq!(percentile(&sorted, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }

    #[test]
    fn the_report_counts_statuses_and_transport_errors() {
        let mut report = EmitReport::default();
        report.record(Some(200), 3.0);
        report.record(Some(200), 1.0);
        report.record(Some(503), 2.0);
        report.record(None, 10.0);
        let json = report.into_json(Duration::from_millis(12));
        assert_eq!(json["sent"], 4);
        assert_eq!(json["statuses"], json!({"200": 2, "503": 1, "error": 1}));
        assert_eq!(json["elapsed_ms"], 12);
        assert_eq!(json["latency_ms"]["p50"], 2.0);
        assert_eq!(json["latency_ms"]["max"], 10.0);
    }
}
