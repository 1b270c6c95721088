//! How the actors' outcomes become answers, in one place: each error mapped to its status
//! and machine code (the JSON error contract of [`crate::error`]), and the bodies the HTTP
//! API and the CLI print alike. Routes and CLI commands both use it; it knows nothing of
//! either.

use actix_web::http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};
use switchboard_actors::definitions::{Created, DefinitionError};
use switchboard_actors::orchestration::PlanProblem;
use switchboard_actors::RouteError;
use utoipa::ToSchema;

use crate::error::{ApiError, Upstream};

/// Maps a definition error to the HTTP contract.
pub fn definition_error(e: DefinitionError) -> ApiError {
    let message = e.to_string();
    match e {
        DefinitionError::Invalid(details) => ApiError::validation("invalid_definition", details),
        DefinitionError::HeaderMatrixTooLarge(_) => {
            ApiError::new(StatusCode::BAD_REQUEST, "header_matrix_too_large", message)
        }
        DefinitionError::TooManyRedirects(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "too_many_redirects", message)
        }
        DefinitionError::RateLimited(_) => ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
        },
        DefinitionError::Upstream { status, body, .. } => ApiError {
            upstream: Some(Box::new(Upstream { status, body })),
            ..ApiError::new(StatusCode::BAD_GATEWAY, "upstream_error", message)
        },
        DefinitionError::Unavailable(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", message)
        }
    }
}

/// The answer to a dry run of `POST /data-actions` (and of `switchboard action create
/// --dry-run`): the definition is valid and nothing was sent.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DryRunAnswer {
    /// The definition as received.
    #[schema(value_type = Object)]
    pub definition: Value,
    /// Bytes of the header matrix the call would send (`Authorization` counted with the
    /// current token when one could be had), at most 8192.
    #[schema(minimum = 0)]
    pub header_matrix_bytes: usize,
    /// The correlation id the call would send.
    pub correlation_id: String,
}

/// The JSON answer for a created definition, shared by `POST /data-actions` and
/// `switchboard action create`: for a dry run a [`DryRunAnswer`]; otherwise the definition as
/// CXone returned it plus `"audit"` (when it is an object; the `CreatedDefinition` schema of
/// the OpenAPI document).
pub fn created_json(created: Created) -> Value {
    match created {
        Created::DryRun {
            definition,
            header_matrix_bytes,
            correlation_id,
        } => json!(DryRunAnswer {
            definition,
            header_matrix_bytes,
            correlation_id,
        }),
        Created::Created {
            mut definition,
            audit,
        } => {
            if let Some(obj) = definition.as_object_mut() {
                obj.insert("audit".into(), json!(audit));
            }
            definition
        }
    }
}

/// The 400 `invalid_plan` answer for a plan's problems (shared with `switchboard plan
/// validate`).
pub fn plan_error(problems: Vec<PlanProblem>) -> ApiError {
    let kinds: Vec<&str> = problems.iter().map(|p| p.kind).collect();
    ApiError::problems(
        "invalid_plan",
        format!("the plan is invalid: {}", kinds.join(", ")),
        problems,
    )
}

/// The answer to an event the router did not route: 422 `no_route`, or 503 with
/// `Retry-After` (`queue_full`, `broker_timeout`, `broker_unavailable`, `router_unavailable`,
/// `in_flight_elsewhere`, `state_unavailable`).
pub fn route_error(e: RouteError) -> ApiError {
    match e {
        RouteError::NoRoute => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_route", e.to_string())
        }
        RouteError::QueueFull => ApiError::unavailable("queue_full", e.to_string(), 1),
        RouteError::Timeout => ApiError::unavailable("broker_timeout", e.to_string(), 1),
        RouteError::Broker(_) => ApiError::unavailable("broker_unavailable", e.to_string(), 1),
        RouteError::Stopped => ApiError::unavailable("router_unavailable", e.to_string(), 1),
        RouteError::InFlightElsewhere => {
            ApiError::unavailable("in_flight_elsewhere", e.to_string(), 1)
        }
        RouteError::DedupeUnavailable(_) => {
            ApiError::unavailable("state_unavailable", e.to_string(), 1)
        }
    }
}
