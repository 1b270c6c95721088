//! `POST /deltas`: apply a delta set (seed 001) in atomic batches of at most
//! `deltas.max_batch_size` records.
//!
//! Answers: 200 with the report `{"data_store_id", "batches": [...], "totals": {...},
//! "metrics": {...}}` when every batch was applied; 409 with the same body (plus `error`
//! `conflict` and `message`) when FAIL stopped the run; 502 with the same body (plus `error`
//! `integrity_error` or `delta_failed`) when a batch failed; 400 `invalid_delta` (every
//! problem in `details`, nothing sent), `malformed_json`; 415; 413; 503 `actor_unavailable`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use switchboard_actors::deltas::{validate_set, ApplyDelta, BatchStatus, DeltaReport, DeltaSet};

use crate::body::{parse_json, read_json_body};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The answer when a batch stopped the run (409, 502): the report plus the error's `error`
/// code and `message`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeltaStopped {
    /// The run's report (the batches after the stop `not_sent`).
    #[serde(flatten)]
    pub report: DeltaReport,
    /// `conflict`, `integrity_error` or `delta_failed`.
    #[schema(pattern = "^(conflict|integrity_error|delta_failed)$")]
    pub error: &'static str,
    /// Which batch stopped the run, and why.
    pub message: String,
}

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
#[utoipa::path(
    post,
    path = "/deltas",
    tag = "deltas",
    operation_id = "apply_delta_set",
    summary = "Apply a delta set in atomic batches",
    description = "The set is validated whole (nothing is sent when it is invalid), split in \
        order into batches of `deltas.max_batch_size` records (at most 1000), and each batch is \
        one atomic PATCH; a batch that conflicts under `FAIL`, fails, or fails its integrity \
        check stops the run.",
    request_body(
        content = DeltaSet,
        content_type = "application/json",
        description = "The delta set (seed 001); at most `server.max_body_bytes`.",
    ),
    responses(
        (status = 200, description = "Every batch was applied.", body = DeltaReport),
        (status = 400, description = "`invalid_delta` (every problem in `details`, naming the \
            record), `malformed_json` or `payload_error`; nothing sent.", body = ErrorBody),
        (status = 409, description = "`conflict`: `FAIL` met a conflict; the run stopped.",
            body = DeltaStopped),
        (status = 413, description = "`payload_too_large`: over `server.max_body_bytes`.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the content type is not JSON.",
            body = ErrorBody),
        (status = 502, description = "`integrity_error` or `delta_failed`: a batch failed; the \
            run stopped.", body = DeltaStopped),
        (status = 503, description = "`actor_unavailable`: the delta actor is restarting.",
            body = ErrorBody),
    ),
)]
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
    Ok(match report_status(&report) {
        (status, None) => HttpResponse::build(status).json(report),
        (status, Some((error, message))) => HttpResponse::build(status).json(DeltaStopped {
            report,
            error,
            message,
        }),
    })
}
