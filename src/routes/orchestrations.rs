//! Orchestration routes: `POST /orchestrations` (a plan → 202 `{"run_id"}`, or 400
//! `invalid_plan` with `details` `[{"kind","sub_flow_id"?,"message"}]`),
//! `GET /orchestrations/{run_id}` (the run's report, 404 `not_found` for an unknown id), and
//! `POST /cxone/webhook` (execution-completion events `{"event_id", "source", "data":
//! {"subFlowId", "executionId", "status": "completed"|"failed"}, "timestamp"}` → 200
//! `{"status": "delivered"|"buffered"|"duplicate"}`, or 400 `invalid_event`). Each answers
//! 503 `actor_unavailable` while the orchestration actors restart and 503
//! `state_unavailable` when the state store fails.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::Value;
use switchboard_actors::orchestration::{
    validate_plan, Completion, Delivery, ExecutionStatus, GetRun, Plan, RunReport, StartRun,
};
use switchboard_actors::problem::FieldProblem;

use crate::answers::plan_error;
use crate::body::{parse_json, read_json_body};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::schemas::CompletionEvent;
use crate::state::AppState;

/// The 202 answer to a plan: `{"run_id"}`, the id to read its report with.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RunAccepted {
    /// The run's id.
    #[schema(min_length = 1)]
    pub run_id: String,
}

/// The 200 answer to a completion event: `{"status": "delivered"|"buffered"|"duplicate"}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompletionAnswer {
    /// What happened to the event.
    pub status: Delivery,
}

fn restarting() -> ApiError {
    ApiError::unavailable(
        "actor_unavailable",
        "the orchestration actors are restarting",
        1,
    )
}

/// `POST /orchestrations`.
#[utoipa::path(
    post,
    path = "/orchestrations",
    tag = "orchestration",
    operation_id = "submit_plan",
    summary = "Submit a plan: run a DAG of Data Action sub-flows",
    description = "The plan is validated whole before any call (petgraph: unknown or self \
        dependencies, duplicate ids and cycles are refused with the rest); the run is recorded \
        in the state store, then started. Read its report with \
        `GET /orchestrations/{run_id}`.",
    request_body(
        content = Plan,
        content_type = "application/json",
        description = "The plan (seed 000); at most `orchestration.max_plan_bytes` (16 MiB).",
    ),
    responses(
        (status = 202, description = "Accepted: the run started.", body = RunAccepted),
        (status = 400, description = "`invalid_plan` (every problem in `details` as \
            `{kind, sub_flow_id?, message}`), `malformed_json` or `payload_error`; nothing \
            started.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over \
            `orchestration.max_plan_bytes`.", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the content type is not JSON.",
            body = ErrorBody),
        (status = 503, description = "`actor_unavailable` (the orchestration actors are \
            restarting) or `state_unavailable` (the run could not be recorded; nothing \
            started).", body = ErrorBody),
    ),
)]
pub async fn submit(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_body(&req, payload, state.settings.orchestration.max_plan_bytes).await?;
    let plan = validate_plan(
        &parse_json(&body)?,
        state.settings.orchestration.max_sub_flows,
    )
    .map_err(plan_error)?;
    let run_id = state
        .actors
        .runs
        .send(StartRun(plan))
        .await
        .map_err(|_| restarting())?
        .map_err(|e| {
            log::warn!("component=orchestrations event=run_not_recorded error={e}");
            ApiError::unavailable(
                "state_unavailable",
                "the run could not be recorded in the state store; nothing started".to_string(),
                1,
            )
        })?;
    Ok(HttpResponse::Accepted().json(RunAccepted { run_id }))
}

/// `GET /orchestrations/{run_id}`: the run's report — from this replica while it runs or is
/// kept here, otherwise its last snapshot in the state store (a run of another replica, or
/// one from before a restart). 404 `not_found` when neither knows it; 503
/// `state_unavailable` when the store cannot be read.
#[utoipa::path(
    get,
    path = "/orchestrations/{run_id}",
    tag = "orchestration",
    operation_id = "get_run_report",
    summary = "A run's report",
    description = "From this replica while it runs or is kept here (the most recent \
        `orchestration.keep_finished_runs` settled runs), otherwise its last snapshot in the \
        state store (another replica's run, or one from before a restart), which also keeps \
        the most recent `orchestration.keep_finished_runs` settled runs: older ones answer 404.",
    params(("run_id" = String, Path, description = "The run's id, as `POST /orchestrations` \
        answered it.", min_length = 1)),
    responses(
        (status = 200, description = "The run's report.", body = RunReport),
        (status = 404, description = "`not_found`: no run with this id.", body = ErrorBody),
        (status = 503, description = "`actor_unavailable` or `state_unavailable` (the state \
            store cannot be read).", body = ErrorBody),
    ),
)]
pub async fn report(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let run_id = path.into_inner();
    let here = state
        .actors
        .runs
        .send(GetRun(run_id.clone()))
        .await
        .map_err(|_| restarting())?;
    if let Some(report) = here {
        return Ok(HttpResponse::Ok().json(report));
    }
    // Not run here (another replica's), or before this process started: its last snapshot.
    match state.run_reports.load(&run_id).await {
        Ok(Some(snapshot)) => Ok(HttpResponse::Ok().json(snapshot.report)),
        Ok(None) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no run with id {run_id}"),
        )),
        Err(e) => {
            log::warn!("component=orchestrations event=run_report_unreadable error={e}");
            Err(ApiError::unavailable(
                "state_unavailable",
                "the state store cannot be read".to_string(),
                1,
            ))
        }
    }
}

/// Validates a completion event.
///
/// Errors: every problem, naming the field.
pub fn parse_completion(v: &Value) -> Result<Completion, Vec<FieldProblem>> {
    let mut p = Vec::new();
    let text = |field: &str, value: Option<&Value>, p: &mut Vec<FieldProblem>| match value
        .and_then(Value::as_str)
    {
        Some(s) if !s.is_empty() => Some(s.to_string()),
        _ => {
            p.push(FieldProblem::new(field, "must be a non-empty string"));
            None
        }
    };
    let event_id = text("event_id", v.get("event_id"), &mut p);
    let execution_id = text("data.executionId", v.pointer("/data/executionId"), &mut p);
    let status = v
        .pointer("/data/status")
        .and_then(Value::as_str)
        .and_then(ExecutionStatus::parse);
    if status.is_none() {
        p.push(FieldProblem::new(
            "data.status",
            "must be completed or failed",
        ));
    }
    match (event_id, execution_id, status) {
        (Some(event_id), Some(execution_id), Some(status)) => Ok(Completion {
            event_id,
            execution_id,
            status,
        }),
        _ => Err(p),
    }
}

/// `POST /cxone/webhook`.
#[utoipa::path(
    post,
    path = "/cxone/webhook",
    tag = "orchestration",
    operation_id = "receive_completion",
    summary = "Receive an execution-completion event",
    description = "Routes the event to the sub-flow waiting for its execution. Duplicates \
        (the same `event_id`, or an execution already completed) are ignored; an event that \
        arrives before the execution's POST was answered is buffered; one no sub-flow of this \
        replica waits for is stored in the state store before it is answered.",
    request_body(
        content = CompletionEvent,
        content_type = "application/json",
        description = "The completion event; at most `server.max_body_bytes`.",
    ),
    responses(
        (status = 200, description = "Delivered, buffered, or a duplicate.",
            body = CompletionAnswer),
        (status = 400, description = "`invalid_event` (every problem in `details`), \
            `malformed_json` or `payload_error`.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `server.max_body_bytes`.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the content type is not JSON.",
            body = ErrorBody),
        (status = 503, description = "`actor_unavailable`, or `state_unavailable` (the event \
            cannot be stored; send it again).", body = ErrorBody),
    ),
)]
pub async fn completion(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_body(&req, payload, state.settings.server.max_body_bytes).await?;
    let completion = parse_completion(&parse_json(&body)?)
        .map_err(|d| ApiError::validation("invalid_event", d))?;
    let delivery = state
        .actors
        .completions
        .send(completion)
        .await
        .map_err(|_| restarting())?
        .map_err(|e| {
            log::warn!("component=orchestrations event=completion_not_stored error={e}");
            ApiError::unavailable(
                "state_unavailable",
                "the completion event cannot be stored; send it again".to_string(),
                1,
            )
        })?;
    Ok(HttpResponse::Ok().json(CompletionAnswer { status: delivery }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn completion_events_are_read_from_the_seed_shape() {
        let c = parse_completion(&json!({"event_id": "e", "source": "s", "data": {"subFlowId": "d", "executionId": "x", "status": "failed"}}))
            .expect("valid");
        assert_eq!(
            (c.event_id.as_str(), c.execution_id.as_str(), c.status),
            ("e", "x", ExecutionStatus::Failed)
        );
        let err = parse_completion(&json!({"data": {"status": "done"}})).expect_err("invalid");
        let fields: Vec<&str> = err.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, vec!["event_id", "data.executionId", "data.status"]);
    }
}
