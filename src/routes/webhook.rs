//! `POST /webhook/cxone/data-actions`: ingest a Data Action event, route it to Kafka, answer
//! only after the broker acknowledged it, then queue its acknowledgement to CXone.
//!
//! Answers: 200 `{"status":"routed","topic","partition","offset"}`; 200
//! `{"status":"duplicate"}` for a redelivery within the dedupe window (acknowledged again);
//! 415 for a non-JSON content type; 413 above `server.max_body_bytes`; 400 `malformed_json`
//! or `invalid_event` (with `details`); 401 `invalid_signature` when signatures are on;
//! 200 `{"status":"dead_lettered","topic","partition","offset"}` for an event no rule matches
//! when `routing.dead_letter_topic` is set (otherwise 422 `no_route`); 503 with `Retry-After` when the broker did not acknowledge in time or the
//! router's queue is full.

use std::rc::Rc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use switchboard_actors::metrics::{EventOutcome, METRICS};
use switchboard_actors::router::RouterIntake;
use switchboard_actors::{RouteError, RouteEvent, RouteOutcome};

use super::event::{dedupe_key, parse_event, EventLimits};
use crate::answers::route_error;
use crate::body::read_json_body;
use crate::error::{ApiError, ErrorBody};
use crate::openapi::schemas::DataActionEvent;
use crate::signature::SignedHeaders;
use crate::state::AppState;

/// How often [`log_unavailable`] sums up the 503 answers.
pub const UNAVAILABLE_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Writes, every `interval`, one line per reason for the webhook events answered 503 in
/// it — `component=webhook event=unavailable reason=<code> count=<n> interval_ms=<ms>` (what
/// `switchboard_unavailable_total{reason}` counts) — so a log pipeline sees 503s by reason
/// without a line per event under overload. Runs until the runtime stops.
pub async fn log_unavailable(interval: Duration) {
    use prometheus::core::Collector as _;
    let mut seen: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for family in METRICS.unavailable.collect() {
            for metric in family.get_metric() {
                let Some(reason) = metric
                    .get_label()
                    .iter()
                    .find(|l| l.name() == "reason")
                    .map(|l| l.value().to_string())
                else {
                    continue;
                };
                let total = metric.get_counter().get_value() as u64;
                let before = seen.insert(reason.clone(), total).unwrap_or(0);
                if total > before {
                    log::warn!(
                        "component=webhook event=unavailable reason={reason} count={} interval_ms={}",
                        total - before,
                        interval.as_millis()
                    );
                }
            }
        }
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// How a routed event went: to its rule's topic, or to the dead-letter topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutedStatus {
    /// Produced to the topic and partition of the first matching rule.
    Routed,
    /// Produced to partition 0 of `routing.dead_letter_topic` (no rule matched, or the broker
    /// refused the record for good).
    DeadLettered,
}

/// The 200 answer for an event the broker acknowledged:
/// `{"status": "routed"|"dead_lettered", "topic", "partition", "offset"}`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RoutedAnswer<'a> {
    /// Routed by a rule, or dead-lettered.
    pub status: RoutedStatus,
    /// The Kafka topic.
    pub topic: &'a str,
    /// The partition.
    #[schema(minimum = 0)]
    pub partition: i32,
    /// The record's offset in the partition.
    #[schema(minimum = 0)]
    pub offset: i64,
}

/// `duplicate`: the only status of a redelivery's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DuplicateStatus {
    /// Routed before, within `routing.dedupe_window_secs`.
    Duplicate,
}

/// The 200 answer for a redelivery within the dedupe window: `{"status": "duplicate"}`
/// (nothing produced; the acknowledgement queued again).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct DuplicateAnswer {
    /// `duplicate`.
    pub status: DuplicateStatus,
}

/// A 200 answer of `POST /webhook/cxone/data-actions`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum IngestAnswer<'a> {
    /// Routed or dead-lettered.
    Routed(RoutedAnswer<'a>),
    /// A redelivery.
    Duplicate(DuplicateAnswer),
}

/// The ingestion handler.
#[utoipa::path(
    post,
    path = "/webhook/cxone/data-actions",
    tag = "routing",
    operation_id = "ingest_data_action_event",
    summary = "Ingest a Data Action event and route it to Kafka",
    description = "Reads the event in one strict pass, matches the routing rules against its \
        payload, produces it to Kafka and answers only after the broker acknowledged the \
        record; then queues its acknowledgement to CXone. With `routing.signing_secret(s)` set, \
        the Standard Webhooks signature headers are required and checked first.",
    params(
        ("webhook-id" = Option<String>, Header, description = "Standard Webhooks message id: \
            signed, and the dedupe key of the delivery when present (trimmed, not blank); \
            otherwise `dataActionId` + `eventType` + `timestamp` are."),
        ("webhook-timestamp" = Option<String>, Header, description = "Standard Webhooks \
            timestamp (Unix seconds), within `routing.signature_tolerance_secs` of now; \
            required when signatures are on."),
        ("webhook-signature" = Option<String>, Header, description = "Standard Webhooks \
            signatures: space-separated `v1,<base64 HMAC-SHA256>` entries over \
            `id.timestamp.body`; required when signatures are on."),
    ),
    request_body(
        content = DataActionEvent,
        content_type = "application/json",
        description = "The event (seed 004). Any `application/json` or `application/*+json` \
            content type; at most `server.max_body_bytes`.",
    ),
    responses(
        (status = 200, description = "The broker acknowledged the record (`routed` or \
            `dead_lettered`), or the delivery is a `duplicate`.", body = IngestAnswer),
        (status = 400, description = "`malformed_json` (not JSON, naming the byte offset), \
            `invalid_event` (every problem in `details`, naming its field), or \
            `payload_error` (the body could not be read).", body = ErrorBody),
        (status = 401, description = "`invalid_signature`: signatures are on and the \
            signature is missing, wrong or outside the tolerance.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `server.max_body_bytes`.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the content type is not JSON.",
            body = ErrorBody),
        (status = 422, description = "`no_route`: no rule matches and there is no dead-letter \
            topic.", body = ErrorBody),
        (status = 503, description = "`broker_timeout`, `broker_unavailable`, `queue_full`, \
            `router_unavailable`, `in_flight_elsewhere` or `state_unavailable`: not routed; \
            send it again after `Retry-After` seconds.", body = ErrorBody),
    ),
)]
pub async fn ingest(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let result = route(&req, payload, &state).await;
    let outcome = match &result {
        Ok(RouteOutcome::Routed(_)) => EventOutcome::Routed,
        Ok(RouteOutcome::Duplicate) => EventOutcome::Duplicate,
        Ok(RouteOutcome::DeadLettered { .. }) => EventOutcome::DeadLettered,
        Err(e) if e.status == StatusCode::SERVICE_UNAVAILABLE => {
            METRICS.unavailable.with_label_values(&[e.code]).inc();
            EventOutcome::Unavailable
        }
        Err(_) => EventOutcome::Rejected,
    };
    METRICS.event(outcome).inc();
    Ok(match result? {
        RouteOutcome::Routed(r) => HttpResponse::Ok().json(IngestAnswer::Routed(RoutedAnswer {
            status: RoutedStatus::Routed,
            topic: &r.topic,
            partition: r.partition,
            offset: r.offset,
        })),
        RouteOutcome::Duplicate => {
            HttpResponse::Ok().json(IngestAnswer::Duplicate(DuplicateAnswer {
                status: DuplicateStatus::Duplicate,
            }))
        }
        RouteOutcome::DeadLettered { routed, reason } => {
            METRICS
                .dead_lettered
                .with_label_values(&[reason.code()])
                .inc();
            HttpResponse::Ok().json(IngestAnswer::Routed(RoutedAnswer {
                status: RoutedStatus::DeadLettered,
                topic: &routed.topic,
                partition: routed.partition,
                offset: routed.offset,
            }))
        }
    })
}

async fn route(
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<RouteOutcome, ApiError> {
    let body = read_json_body(req, payload, state.settings.server.max_body_bytes).await?;
    if let Some(verifier) = &state.verifier {
        let headers = SignedHeaders {
            id: header(req, "webhook-id"),
            timestamp: header(req, "webhook-timestamp"),
            signature: header(req, "webhook-signature"),
        };
        verifier
            .verify(headers, &body, chrono::Utc::now().timestamp())
            .map_err(|e| {
                ApiError::new(StatusCode::UNAUTHORIZED, "invalid_signature", e.to_string())
            })?;
    }
    let event = parse_event(&body, EventLimits::of(&state.settings.routing))?;
    let dedupe_key = dedupe_key(header(req, "webhook-id"), &event);
    let route = state.rules.current().route(&event.compact).cloned();
    let (event, reply) = RouteEvent::new(
        dedupe_key,
        event.data_action_id,
        event.event_type,
        event.timestamp,
        event.compact,
        route,
    );
    // Registered for every worker by `Application::build`.
    let intake = req.app_data::<Rc<RouterIntake>>().ok_or_else(|| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the router intake is not configured",
        )
    })?;
    intake.submit(event);
    let deadline = Duration::from_millis(state.settings.kafka.produce_timeout_ms + 250);
    let outcome = match tokio::time::timeout(deadline, reply).await {
        Ok(Ok(r)) => r,
        Ok(Err(_)) => Err(RouteError::Stopped),
        Err(_) => Err(RouteError::Timeout),
    }
    .map_err(route_error)?;
    Ok(outcome)
}
