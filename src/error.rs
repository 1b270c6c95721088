//! The service's HTTP error contract: every error is JSON
//! `{"error": "<machine_code>", "message": "<human text>", "details": [...]}`, and status
//! codes are mapped here, in one place.

use actix_web::http::header::{HeaderValue, RETRY_AFTER};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use switchboard_actors::problem::FieldProblem;

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
    pub details: Vec<serde_json::Value>,
    /// `Retry-After` seconds, for 503 and 429.
    pub retry_after_secs: Option<u64>,
    /// The upstream API's answer, for 502 (`{"status", "body"}`).
    pub upstream: Option<Box<serde_json::Value>>,
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
        Self::problems(code, message, &details)
    }

    /// 400 with any serialisable problems as `details`.
    pub fn problems<P: Serialize>(code: &'static str, message: String, details: &[P]) -> Self {
        ApiError {
            details: details
                .iter()
                .filter_map(|d| serde_json::to_value(d).ok())
                .collect(),
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

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    details: &'a [serde_json::Value],
    #[serde(skip_serializing_if = "Option::is_none")]
    upstream: Option<&'a serde_json::Value>,
}

impl ApiError {
    /// The JSON body of this error (what HTTP clients receive; the CLI prints the same).
    pub fn body(&self) -> serde_json::Value {
        serde_json::to_value(Body {
            error: self.code,
            message: &self.message,
            details: &self.details,
            upstream: self.upstream.as_deref(),
        })
        .unwrap_or_default()
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
        resp.json(self.body())
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
