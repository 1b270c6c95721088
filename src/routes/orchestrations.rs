//! Orchestration routes: `POST /orchestrations` (a plan → 202 `{"run_id"}`, or 400
//! `invalid_plan` with `details` `[{"kind","sub_flow_id"?,"message"}]`),
//! `GET /orchestrations/{run_id}` (the run's report, 404 `not_found` for an unknown id), and
//! `POST /cxone/webhook` (execution-completion events `{"event_id", "source", "data":
//! {"subFlowId", "executionId", "status": "completed"|"failed"}, "timestamp"}` → 200
//! `{"status": "delivered"|"buffered"|"duplicate"}`, or 400 `invalid_event`).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use switchboard_actors::orchestration::{
    validate_plan, Completion, Delivery, ExecutionStatus, GetRun, StartRun,
};
use switchboard_actors::problem::FieldProblem;

use crate::answers::plan_error;
use crate::body::{parse_json, read_json_body};
use crate::error::ApiError;
use crate::state::AppState;

fn restarting() -> ApiError {
    ApiError::unavailable(
        "actor_unavailable",
        "the orchestration actors are restarting",
        1,
    )
}

/// `POST /orchestrations`.
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
    Ok(HttpResponse::Accepted().json(json!({"run_id": run_id})))
}

/// `GET /orchestrations/{run_id}`: the run's report — from this replica while it runs or is
/// kept here, otherwise its last snapshot in the state store (a run of another replica, or
/// one from before a restart). 404 `not_found` when neither knows it; 503
/// `state_unavailable` when the store cannot be read.
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
    let status = match delivery {
        Delivery::Delivered => "delivered",
        Delivery::Buffered => "buffered",
        Delivery::Duplicate => "duplicate",
    };
    Ok(HttpResponse::Ok().json(json!({"status": status})))
}

#[cfg(test)]
mod tests {
    use super::*;

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
