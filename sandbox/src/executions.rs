//! Sub-flow executions: `POST /api/v1/data-actions/{id}/executions` starts one (202 +
//! `Location`), a spawned timer ends it and sends its completion webhooks
//! ([`completion`](super::completion)), `GET /api/v1/executions/{execution_id}` reads it.

use std::time::Duration;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use actix_web::web::Bytes;

use super::body::{read_body, MAX_API_BODY_BYTES};
use super::completion::{completion_event, deliver_to_all, WebhookClient};
use super::deltas::{IDEMPOTENCY_KEY_HEADER, REPLAYED_HEADER};
use super::error::ApiError;
use super::execution_log::{ExecutionRecord, ExecutionStatus};
use super::faults::MAX_LATENCY_MS;
use super::idempotency::StoredAnswer;
use super::limits::admit;
use super::state::Shared;

/// Path template of the execute endpoint (as counted in `requests`).
pub const EXECUTE_PATH: &str = "/api/v1/data-actions/{id}/executions";

/// Path template of the execution status endpoint (as counted in `requests`).
pub const EXECUTION_PATH: &str = "/api/v1/executions/{execution_id}";

/// How long an execution runs when its input does not say, in milliseconds.
pub const DEFAULT_EXECUTION_LATENCY_MS: u64 = 50;

/// How an execution behaves, from `input.sandbox` of the execute body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecutionPlan {
    /// Milliseconds from the start until it ends (default 50, at most 3 600 000).
    pub latency_ms: u64,
    /// How it ends: `Succeeded` (default) or `Failed`.
    pub outcome: ExecutionStatus,
}

impl Default for ExecutionPlan {
    fn default() -> Self {
        ExecutionPlan {
            latency_ms: DEFAULT_EXECUTION_LATENCY_MS,
            outcome: ExecutionStatus::Succeeded,
        }
    }
}

impl ExecutionPlan {
    /// Parses an execute body `{"input": {..., "sandbox"?: {"latency_ms"?: u64, "outcome"?:
    /// "succeeded"|"failed"}}}`. An empty body, a missing or null `input` or `sandbox`, and
    /// missing settings take the defaults; other keys of `input` and of the body are ignored.
    ///
    /// Errors: [`ApiError::MalformedJson`] for a body that is not JSON;
    /// [`ApiError::InvalidExecution`] naming every bad field (`input`, `input.sandbox`,
    /// `input.sandbox.latency_ms`, `input.sandbox.outcome`, unknown `input.sandbox.*`).
    pub fn parse(body: &[u8]) -> Result<ExecutionPlan, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(ExecutionPlan::default());
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        let Value::Object(fields) = value else {
            return Err(ApiError::InvalidExecution(
                "body must be a JSON object {\"input\": {...}}".to_owned(),
            ));
        };
        let sandbox = match fields.get("input") {
            None | Some(Value::Null) => return Ok(ExecutionPlan::default()),
            Some(Value::Object(input)) => input.get("sandbox"),
            Some(_) => {
                return Err(ApiError::InvalidExecution(
                    "field `input` must be an object".to_owned(),
                ))
            }
        };
        match sandbox {
            None | Some(Value::Null) => Ok(ExecutionPlan::default()),
            Some(Value::Object(settings)) => Self::from_settings(settings),
            Some(_) => Err(ApiError::InvalidExecution(
                "field `input.sandbox` must be an object {\"latency_ms\", \"outcome\"}".to_owned(),
            )),
        }
    }

    fn from_settings(settings: &Map<String, Value>) -> Result<ExecutionPlan, ApiError> {
        let mut plan = ExecutionPlan::default();
        let mut problems = Vec::new();
        for (name, value) in settings {
            match (name.as_str(), value) {
                (_, Value::Null) => {}
                ("latency_ms", value) => match value.as_u64() {
                    Some(n) if n <= MAX_LATENCY_MS => plan.latency_ms = n,
                    _ => problems.push(
                        "field `input.sandbox.latency_ms` must be an integer from 0 to 3600000"
                            .to_owned(),
                    ),
                },
                ("outcome", value) => match value.as_str() {
                    Some("succeeded") => plan.outcome = ExecutionStatus::Succeeded,
                    Some("failed") => plan.outcome = ExecutionStatus::Failed,
                    _ => problems.push(
                        "field `input.sandbox.outcome` must be \"succeeded\" or \"failed\""
                            .to_owned(),
                    ),
                },
                (name, _) => problems.push(format!("field `input.sandbox.{name}` is not known")),
            }
        }
        if problems.is_empty() {
            Ok(plan)
        } else {
            Err(ApiError::InvalidExecution(problems.join("; ")))
        }
    }
}

/// The current time in Unix milliseconds (0 before 1970).
pub fn now_ms() -> u64 {
    u64::try_from(Utc::now().timestamp_millis()).unwrap_or(0)
}

/// The status answer of an execution: `{"execution_id", "data_action_id", "status",
/// "started_at_ms", "completed_at_ms"}`.
pub fn status_json(record: &ExecutionRecord) -> Value {
    json!({
        "execution_id": record.execution_id,
        "data_action_id": record.data_action_id,
        "status": record.status,
        "started_at_ms": record.started_at_ms,
        "completed_at_ms": record.completed_at_ms,
    })
}

/// `POST /api/v1/data-actions/{id}/executions` (bearer auth): starts an execution of the
/// Data Action (sub-flow) `id` that behaves as [`ExecutionPlan::parse`] reads from the body.
///
/// Answers 202 with `Location: /api/v1/executions/{execution_id}` and `{"execution_id":
/// uuid, "status": "running"}`, and records the execution (`started_at_ms` = when the
/// request arrived, before the `latency_ms` fault). With an `Idempotency-Key` (a non-empty
/// one) already answered, the same answer is given again with `Idempotent-Replayed: true`
/// and nothing starts: a POST repeated after a client's crash returns the same execution,
/// and `executions` in the state does not count it twice. Errors: those of [`admit`] (401,
/// 429, 503), 400 `malformed_json` / `invalid_execution`, 413 `payload_too_large`.
pub async fn start_execution(
    req: HttpRequest,
    id: web::Path<String>,
    payload: web::Payload,
    shared: web::Data<Shared>,
    webhooks: web::Data<WebhookClient>,
) -> Result<HttpResponse, ApiError> {
    let started_at_ms = now_ms();
    admit(&req, &shared).await?;
    let body = read_body(payload, MAX_API_BODY_BYTES).await?;
    let plan = ExecutionPlan::parse(&body)?;
    let data_action_id = id.into_inner();
    // Execution keys apart from delta keys: the same text on both endpoints is two requests.
    let key = req
        .headers()
        .get(IDEMPOTENCY_KEY_HEADER)
        .map(|v| format!("execution\u{0}{}", String::from_utf8_lossy(v.as_bytes())))
        .filter(|k| k.len() > "execution\u{0}".len());
    let execution_id = Uuid::new_v4().to_string();
    let answer = json!({"execution_id": execution_id, "status": "running"});
    {
        let mut state = shared.lock();
        if let Some(stored) = key.as_deref().and_then(|k| state.idempotency.get(k)) {
            let replayed: Value = serde_json::from_slice(&stored.body).unwrap_or(Value::Null);
            let id = replayed["execution_id"].as_str().unwrap_or_default();
            log::debug!(
                "component=sandbox event=execution_replayed execution_id={id}; idempotent execute replayed"
            );
            return Ok(HttpResponse::Accepted()
                .insert_header((header::LOCATION, format!("/api/v1/executions/{id}")))
                .insert_header((REPLAYED_HEADER, "true"))
                .content_type(header::ContentType::json())
                .body(stored.body.clone()));
        }
        state.records.executions.push(ExecutionRecord {
            execution_id: execution_id.clone(),
            data_action_id: data_action_id.clone(),
            started_at_ms,
            completed_at_ms: None,
            status: ExecutionStatus::Running,
        });
        if let Some(key) = &key {
            let stored = StoredAnswer {
                status: 202,
                body: Bytes::from(answer.to_string()),
            };
            state.idempotency.insert(key, stored);
        }
    }
    log::debug!(
        "component=sandbox event=execution_started execution_id={execution_id} data_action_id={data_action_id} latency_ms={}; sub-flow execution started",
        plan.latency_ms
    );
    actix_rt::spawn(run_execution(
        shared.into_inner(),
        webhooks.0.clone(),
        execution_id.clone(),
        data_action_id,
        plan,
    ));
    Ok(HttpResponse::Accepted()
        .insert_header((
            header::LOCATION,
            format!("/api/v1/executions/{execution_id}"),
        ))
        .json(answer))
}

/// Ends the execution after `plan.latency_ms`: stamps `completed_at_ms` and the outcome,
/// then, unless the `drop_webhooks` fault is on, sends the completion event to every
/// registered webhook with `client`. An execution no longer remembered (reset, or evicted
/// from the log) ends silently.
async fn run_execution(
    shared: std::sync::Arc<Shared>,
    client: awc::Client,
    execution_id: String,
    data_action_id: String,
    plan: ExecutionPlan,
) {
    actix_rt::time::sleep(Duration::from_millis(plan.latency_ms)).await;
    let urls = {
        let mut state = shared.lock();
        let Some(record) = state.records.executions.get_mut(&execution_id) else {
            log::debug!(
                "component=sandbox event=execution_forgotten execution_id={execution_id}; execution ended after a reset"
            );
            return;
        };
        record.status = plan.outcome;
        record.completed_at_ms = Some(now_ms());
        if state.faults.drop_webhooks {
            log::debug!(
                "component=sandbox event=webhook_dropped execution_id={execution_id}; completion webhook dropped (fault)"
            );
            return;
        }
        state.webhooks.urls()
    };
    let event_id = Uuid::new_v4();
    let event = completion_event(
        event_id,
        &data_action_id,
        &execution_id,
        plan.outcome,
        Utc::now(),
    );
    deliver_to_all(&client, urls, &event_id.to_string(), event).await;
}

/// `GET /api/v1/executions/{execution_id}` (bearer auth): 200 with [`status_json`].
///
/// Errors: those of [`admit`], 404 `not_found` for an execution never started (or
/// forgotten: reset, or older than the last 100 000).
pub async fn get_execution(
    req: HttpRequest,
    execution_id: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &shared).await?;
    let state = shared.lock();
    let record =
        state
            .records
            .executions
            .get(&execution_id)
            .ok_or_else(|| ApiError::UnknownResource {
                kind: "execution",
                id: execution_id.into_inner(),
            })?;
    Ok(HttpResponse::Ok().json(status_json(record)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(body: &str) -> String {
        match ExecutionPlan::parse(body.as_bytes()) {
            Err(ApiError::InvalidExecution(message)) => message,
            other => panic!("expected invalid_execution for {body}, got {other:?}"),
        }
    }

    #[test]
    fn an_execution_without_sandbox_settings_takes_the_defaults() {
        for body in [
            "",
            "{}",
            r#"{"input": {}}"#,
            r#"{"input": {"a": 1, "sandbox": null}}"#,
        ] {
            let plan = ExecutionPlan::parse(body.as_bytes()).expect("valid");
            assert_eq!(plan, ExecutionPlan::default(), "{body}");
        }
        assert_eq!(ExecutionPlan::default().latency_ms, 50);
        assert_eq!(ExecutionPlan::default().outcome, ExecutionStatus::Succeeded);
    }

    #[test]
    fn input_sandbox_sets_the_latency_and_outcome() {
        let plan = ExecutionPlan::parse(
            br#"{"input": {"x": 1, "sandbox": {"latency_ms": 250, "outcome": "failed"}}}"#,
        )
        .expect("valid");
        assert_eq!(
            plan,
            ExecutionPlan {
                latency_ms: 250,
                outcome: ExecutionStatus::Failed
            }
        );
    }

    #[test]
    fn bad_execution_bodies_name_the_field() {
        assert!(invalid(r#"{"input": 5}"#).contains("`input`"));
        assert!(invalid(r#"{"input": {"sandbox": true}}"#).contains("`input.sandbox`"));
        let text = invalid(r#"{"input": {"sandbox": {"latency_ms": -1, "outcome": "maybe"}}}"#);
        assert!(text.contains("`input.sandbox.latency_ms`"), "{text}");
        assert!(text.contains("`input.sandbox.outcome`"), "{text}");
        assert!(invalid(r#"{"input": {"sandbox": {"latency": 5}}}"#).contains("latency"));
        assert!(
            invalid(r#"{"input": {"sandbox": {"latency_ms": 3600001}}}"#).contains("latency_ms")
        );
        invalid("[1]");
        assert!(matches!(
            ExecutionPlan::parse(b"{oops"),
            Err(ApiError::MalformedJson(_))
        ));
    }

    #[test]
    fn the_status_answer_lists_the_documented_fields() {
        let record = ExecutionRecord {
            execution_id: "e".into(),
            data_action_id: "d".into(),
            started_at_ms: 10,
            completed_at_ms: Some(20),
            status: ExecutionStatus::Succeeded,
        };
        assert_eq!(
            status_json(&record),
            json!({"execution_id": "e", "data_action_id": "d", "status": "succeeded",
                   "started_at_ms": 10, "completed_at_ms": 20})
        );
    }
}
