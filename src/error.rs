//! The service's HTTP error contract: every error is JSON
//! `{"error": "<machine_code>", "message": "<human text>", "details": [...]}`, and status
//! codes are mapped here, in one place. [`ErrorBody`] is the body's type, and the `Error`
//! schema of the OpenAPI document ([`crate::openapi`]).

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use switchboard_actors::orchestration::PlanProblem;

pub use switchboard_actors::problem::FieldProblem;

/// One entry of an error's `details`: a field's problem `{"field", "message"}`, or a plan's
/// `{"kind", "sub_flow_id"?, "message"}` (400 `invalid_plan`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, derive_more::From, utoipa::ToSchema)]
#[serde(untagged)]
pub enum Problem {
    /// A field's problem.
    Field(FieldProblem),
    /// A plan's problem.
    Plan(PlanProblem),
}

/// The upstream API's answer carried by a 502 `upstream_error`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Upstream {
    /// Its HTTP status.
    pub status: u16,
    /// Its body: JSON when it was JSON, otherwise its text as a string.
    #[schema(value_type = Value)]
    pub body: serde_json::Value,
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone, derive_more::Display)]
#[display("{code}: {message}")]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine code, e.g. `malformed_json`.
    pub code: &'static str,
    /// Human text.
    pub message: String,
    /// Validation problems (`{"field","message"}`, or `{"kind","sub_flow_id"?,"message"}` for plans).
    pub details: Vec<Problem>,
    /// `Retry-After` seconds, for 503 and 429.
    pub retry_after_secs: Option<u64>,
    /// The upstream API's answer, for 502 (`{"status", "body"}`).
    pub upstream: Option<Box<Upstream>>,
}

impl ApiError {
    /// An error without details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after_secs: None,
            upstream: None,
        }
    }

    /// 400 with a problem per field.
    pub fn validation(code: &'static str, details: Vec<FieldProblem>) -> Self {
        let names: Vec<&str> = details.iter().map(|p| p.field.as_str()).collect();
        let message = match details.as_slice() {
            [one] if one.field.is_empty() => one.message.clone(),
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} problems: {}", many.len(), names.join(", ")),
        };
        Self::problems(code, message, details)
    }

    /// 400 with `details` (field or plan problems).
    pub fn problems<P: Into<Problem>>(
        code: &'static str,
        message: String,
        details: Vec<P>,
    ) -> Self {
        ApiError {
            details: details.into_iter().map(Into::into).collect(),
            ..ApiError::new(StatusCode::BAD_REQUEST, code, message)
        }
    }

    /// 503 with `Retry-After`.
    pub fn unavailable(
        code: &'static str,
        message: impl Into<String>,
        retry_after_secs: u64,
    ) -> Self {
        ApiError {
            retry_after_secs: Some(retry_after_secs),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
        }
    }
}

/// The JSON body of every error answer: `{"error", "message", "details"?, "upstream"?}`
/// (`details` only when there are problems, `upstream` only on 502 `upstream_error`). The
/// `Error` schema of the OpenAPI document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// Machine code, e.g. `malformed_json`, `invalid_event`, `not_found`.
    #[schema(min_length = 1, pattern = "^[a-z][a-z0-9_]*$")]
    pub error: &'a str,
    /// Human text.
    pub message: &'a str,
    /// Every problem found, each naming its field (validation errors only).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    #[schema(value_type = Vec<Problem>, min_items = 1)]
    pub details: &'a [Problem],
    /// The upstream API's answer (502 `upstream_error` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Upstream>)]
    pub upstream: Option<&'a Upstream>,
}

impl ApiError {
    /// The body of this error, borrowed.
    pub fn error_body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: self.code,
            message: &self.message,
            details: &self.details,
            upstream: self.upstream.as_deref(),
        }
    }

    /// The JSON body of this error (what HTTP clients receive; the CLI prints the same).
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(self.error_body()).unwrap_or_default()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        if let Some(secs) = self.retry_after_secs {
            resp.insert_header((RETRY_AFTER, HeaderValue::from(secs)));
        }
        resp.json(self.error_body())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn a_validation_error_lists_every_problem_in_details() {
        let e = ApiError::validation(
            "invalid_event",
            vec![
                FieldProblem::new("dataActionId", "is missing"),
                FieldProblem::new("extra", "is not a known field"),
            ],
        );
        let resp = e.error_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        let body = actix_web::body::to_bytes(resp.into_body())
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"], "invalid_event");
        assert_eq!(v["details"].as_array().map(Vec::len), Some(2));
        assert!(v["message"]
            .as_str()
            .is_some_and(|m| m.contains("dataActionId")));
    }

    #[test]
    fn a_503_carries_retry_after() {
        let resp = ApiError::unavailable("queue_full", "busy", 1).error_response();
        assert_eq!(
            resp.headers().get(RETRY_AFTER).map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
    }
}
