//! `POST /deltas`: apply a delta set (seed 001) in atomic batches of at most
//! `deltas.max_batch_size` records.
//!
//! Answers: 200 with the report `{"data_store_id", "batches": [...], "totals": {...},
//! "metrics": {...}}` when every batch was applied; 409 with the same body (plus `error`
//! `conflict` and `message`) when FAIL stopped the run; 502 with the same body (plus `error`
//! `integrity_error` or `delta_failed`) when a batch failed; 400 `invalid_delta` (every
//! problem in `details`, nothing sent), `malformed_json`; 415; 413.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;
use switchboard_actors::deltas::{validate_set, ApplyDelta, BatchStatus, DeltaReport};

use crate::body::{parse_json, read_json_body};
use crate::error::ApiError;
use crate::state::AppState;

/// The HTTP status and, when the run stopped, the error code and message of a report.
pub fn report_status(report: &DeltaReport) -> (StatusCode, Option<(&'static str, String)>) {
    let failed = report
        .batches
        .iter()
        .find(|b| b.status == report.stopped_by().unwrap_or(BatchStatus::Applied));
    let message = |what: &str| match failed {
        Some(b) => format!(
            "batch {} {what}: {}",
            b.index,
            b.error.as_deref().unwrap_or("")
        ),
        None => what.to_string(),
    };
    match report.stopped_by() {
        None => (StatusCode::OK, None),
        Some(BatchStatus::Conflict) => (
            StatusCode::CONFLICT,
            Some(("conflict", message("conflicted; the run stopped"))),
        ),
        Some(BatchStatus::IntegrityError) => (
            StatusCode::BAD_GATEWAY,
            Some((
                "integrity_error",
                message("failed its integrity check; the run stopped"),
            )),
        ),
        Some(_) => (
            StatusCode::BAD_GATEWAY,
            Some(("delta_failed", message("failed; the run stopped"))),
        ),
    }
}

/// The handler.
pub async fn apply(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_body(&req, payload, state.settings.server.max_body_bytes).await?;
    let set = validate_set(&parse_json(&body)?)
        .map_err(|details| ApiError::validation("invalid_delta", details))?;
    let report = state
        .actors
        .deltas
        .send(ApplyDelta { set })
        .await
        .map_err(|_| {
            ApiError::unavailable("actor_unavailable", "the delta actor is restarting", 1)
        })?;
    let (status, error) = report_status(&report);
    let mut body = json!(report);
    if let (Some((code, message)), Some(obj)) = (error, body.as_object_mut()) {
        obj.insert("error".into(), json!(code));
        obj.insert("message".into(), json!(message));
    }
    Ok(HttpResponse::build(status).json(body))
}
