//! The sandbox's error answers: one enum, mapped to status codes and JSON bodies in one place.
//!
//! Every error body is `{"error": "<machine_code>", "message": "<human text>"}`; a 429 also
//! carries `Retry-After` (whole seconds) and `retry_after_secs` in the body, and a 400
//! `invalid_definition` carries `details`: `[{"field": "<dotted path>", "message": "<text>"}]`.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use derive_more::Display;
use serde_json::json;

/// One problem found in a request body (see [`crate::problem`]).
pub use crate::problem::FieldProblem;

/// An error answer of the sandbox (token endpoint, API or admin API).
#[derive(Debug, Display, PartialEq)]
pub enum ApiError {
    /// 400 `invalid_request`: the token request is malformed (wrong content type, missing field).
    #[display("invalid token request: {_0}")]
    InvalidRequest(String),
    /// 401 `invalid_client`: unknown client id, wrong secret or rejected access key.
    #[display("client authentication failed")]
    InvalidClient,
    /// 400 `unsupported_grant_type`: a grant other than `client_credentials` or `password`.
    #[display("unsupported grant type {_0:?}")]
    UnsupportedGrantType(String),
    /// 401 `invalid_token`: no bearer token, a token the sandbox never issued, or an expired one.
    #[display("missing, unknown or expired bearer token")]
    InvalidToken,
    /// 429 `rate_limited`: the tenant's token bucket is empty; retry after this many seconds.
    #[display("rate limit exceeded, retry after {retry_after_secs} s")]
    RateLimited {
        /// Whole seconds (at least 1) until the bucket holds one token again.
        retry_after_secs: u64,
    },
    /// 503 `service_unavailable`: injected by the `error_rate` fault.
    #[display("service unavailable (injected fault)")]
    ServiceUnavailable,
    /// 409 `already_acknowledged`: the Data Action event with this id was acknowledged before.
    #[display("data action {_0} is already acknowledged")]
    AlreadyAcknowledged(String),
    /// 400 `invalid_faults`: a `POST /sandbox/faults` body the sandbox cannot apply.
    #[display("{_0}")]
    InvalidFaults(String),
    /// 400 `invalid_emit`: a `POST /sandbox/emit` body the sandbox cannot run.
    #[display("{_0}")]
    InvalidEmit(String),
    /// 400 `checksum_missing`: a delta request without `X-Payload-Checksum`.
    #[display("header X-Payload-Checksum is required")]
    ChecksumMissing,
    /// 400 `checksum_mismatch`: `X-Payload-Checksum` is not the lowercase SHA-256 hex of the
    /// body bytes.
    #[display("X-Payload-Checksum {_0:?} is not the lowercase SHA-256 hex of the body")]
    ChecksumMismatch(String),
    /// 400 `invalid_payload`: a delta body that is not JSON or has the wrong shape; the
    /// message names each bad field.
    #[display("{_0}")]
    InvalidPayload(String),
    /// 400 `batch_too_large`: a delta batch of more records than the limit (1000).
    #[display("batch of {records} records exceeds the limit of {limit}")]
    BatchTooLarge {
        /// Records in the request.
        records: usize,
        /// Most records one request may carry.
        limit: usize,
    },
    /// 400 `invalid_datastore`: a `POST /sandbox/datastores/{id}` body the sandbox cannot
    /// apply; the message names each bad field.
    #[display("{_0}")]
    InvalidDatastore(String),
    /// 400 `malformed_json`: a body that is not JSON at all.
    #[display("body is not valid JSON: {_0}")]
    MalformedJson(String),
    /// 400 `invalid_definition`: a definition failing validation; every problem is listed in
    /// the body's `details`.
    #[display("definition is invalid: {} problem(s)", _0.len())]
    InvalidDefinition(Vec<FieldProblem>),
    /// 413 `payload_too_large`: a request body over the endpoint's limit (bytes).
    #[display("request body exceeds {_0} bytes")]
    PayloadTooLarge(usize),
    /// 400 `invalid_webhook`: a `POST /api/v1/webhooks` body naming no usable `http://` URL,
    /// or with bad `events`; the message names each bad field.
    #[display("{_0}")]
    InvalidWebhook(String),
    /// 400 `invalid_execution`: a sub-flow execution body of the wrong shape (`input` not an
    /// object, a bad `input.sandbox` setting); the message names each bad field.
    #[display("{_0}")]
    InvalidExecution(String),
    /// 400 `invalid_report`: a `POST /sandbox/reports` body the sandbox cannot register; the
    /// message names each bad field.
    #[display("{_0}")]
    InvalidReport(String),
    /// 400 `invalid_export`: a start-export body of the wrong shape; the message names each
    /// bad field.
    #[display("{_0}")]
    InvalidExport(String),
    /// 400 `invalid_query`: a query parameter out of range or not a number (`limit`,
    /// `offset`); the message names it.
    #[display("{_0}")]
    InvalidQuery(String),
    /// 404 `not_found`: no resource of this kind (`execution`, `report`, `export job`) has
    /// this id.
    #[display("no {kind} with id {id:?}")]
    UnknownResource {
        /// What was looked up, e.g. `execution`.
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// 404 `not_found`: no such route.
    #[display("no route for {_0}")]
    NotFound(String),
    /// 405 `method_not_allowed`: a known path with another method.
    #[display("method not allowed: {_0}")]
    MethodNotAllowed(String),
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// The machine code put in the body's `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::InvalidRequest(_) => "invalid_request",
            ApiError::InvalidClient => "invalid_client",
            ApiError::UnsupportedGrantType(_) => "unsupported_grant_type",
            ApiError::InvalidToken => "invalid_token",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::ServiceUnavailable => "service_unavailable",
            ApiError::AlreadyAcknowledged(_) => "already_acknowledged",
            ApiError::InvalidFaults(_) => "invalid_faults",
            ApiError::InvalidEmit(_) => "invalid_emit",
            ApiError::ChecksumMissing => "checksum_missing",
            ApiError::ChecksumMismatch(_) => "checksum_mismatch",
            ApiError::InvalidPayload(_) => "invalid_payload",
            ApiError::BatchTooLarge { .. } => "batch_too_large",
            ApiError::InvalidDatastore(_) => "invalid_datastore",
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidDefinition(_) => "invalid_definition",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::InvalidWebhook(_) => "invalid_webhook",
            ApiError::InvalidExecution(_) => "invalid_execution",
            ApiError::InvalidReport(_) => "invalid_report",
            ApiError::InvalidExport(_) => "invalid_export",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::UnknownResource { .. } | ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::InvalidRequest(_)
            | ApiError::UnsupportedGrantType(_)
            | ApiError::InvalidFaults(_)
            | ApiError::InvalidEmit(_)
            | ApiError::ChecksumMissing
            | ApiError::ChecksumMismatch(_)
            | ApiError::InvalidPayload(_)
            | ApiError::BatchTooLarge { .. }
            | ApiError::InvalidDatastore(_)
            | ApiError::MalformedJson(_)
            | ApiError::InvalidDefinition(_)
            | ApiError::InvalidWebhook(_)
            | ApiError::InvalidExecution(_)
            | ApiError::InvalidReport(_)
            | ApiError::InvalidExport(_)
            | ApiError::InvalidQuery(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidClient | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::AlreadyAcknowledged(_) => StatusCode::CONFLICT,
            ApiError::UnknownResource { .. } | ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::RateLimited { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
                response.json(json!({
                    "error": self.code(),
                    "message": self.to_string(),
                    "retry_after_secs": retry_after_secs,
                }))
            }
            ApiError::InvalidToken => {
                // RFC 6750 section 3: a 401 on a protected resource names the scheme.
                response
                    .insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
                response.json(json!({"error": self.code(), "message": self.to_string()}))
            }
            ApiError::InvalidDefinition(details) => response.json(json!({
                "error": self.code(),
                "message": describe(details),
                "details": details,
            })),
            _ => response.json(json!({"error": self.code(), "message": self.to_string()})),
        }
    }
}

/// A one-line summary of field problems: `field: message; field: message`.
fn describe(problems: &[FieldProblem]) -> String {
    let listed: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.field, p.message))
        .collect();
    format!("definition is invalid: {}", listed.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    fn body_json(error: &ApiError) -> serde_json::Value {
        let bytes = error
            .error_response()
            .into_body()
            .try_into_bytes()
            .expect("in-memory body");
        serde_json::from_slice(&bytes).expect("JSON body")
    }

    #[test]
    fn rate_limited_answers_429_with_retry_after_header_and_json_body() {
        let error = ApiError::RateLimited {
            retry_after_secs: 7,
        };
        let response = error.error_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("7")
        );
        let body = body_json(&error);
        assert_eq!(body["error"], "rate_limited");
        assert_eq!(body["retry_after_secs"], 7);
    }

    #[test]
    fn every_error_body_has_a_code_and_a_message() {
        let errors = [
            ApiError::InvalidRequest("x".into()),
            ApiError::InvalidClient,
            ApiError::UnsupportedGrantType("implicit".into()),
            ApiError::InvalidToken,
            ApiError::ServiceUnavailable,
            ApiError::AlreadyAcknowledged("id-1".into()),
            ApiError::InvalidFaults("field `x`".into()),
            ApiError::InvalidEmit("field `count`".into()),
            ApiError::NotFound("/nope".into()),
            ApiError::MethodNotAllowed("GET /oauth/token".into()),
            ApiError::ChecksumMissing,
            ApiError::ChecksumMismatch("abc".into()),
            ApiError::InvalidPayload("field `records` is required".into()),
            ApiError::BatchTooLarge {
                records: 1001,
                limit: 1000,
            },
            ApiError::InvalidDatastore("field `records` is required".into()),
            ApiError::MalformedJson("EOF".into()),
            ApiError::InvalidDefinition(vec![FieldProblem::new("name", "is required")]),
            ApiError::PayloadTooLarge(10),
            ApiError::InvalidWebhook("field `url` is required".into()),
            ApiError::InvalidExecution("field `input` must be an object".into()),
            ApiError::InvalidReport("field `records` is required".into()),
            ApiError::InvalidExport("field `report_id` is required".into()),
            ApiError::InvalidQuery("`limit` must be an integer".into()),
            ApiError::UnknownResource {
                kind: "execution",
                id: "x".into(),
            },
        ];
        for error in &errors {
            let body = body_json(error);
            assert_eq!(body["error"], error.code());
            assert!(!body["message"].as_str().unwrap_or_default().is_empty());
        }
        assert_eq!(
            ApiError::AlreadyAcknowledged("id-1".into()).status_code(),
            StatusCode::CONFLICT
        );
        let unknown = ApiError::UnknownResource {
            kind: "export job",
            id: "j-1".into(),
        };
        assert_eq!(unknown.status_code(), StatusCode::NOT_FOUND);
        assert_eq!(body_json(&unknown)["error"], "not_found");
        assert_eq!(
            ApiError::InvalidReport("x".into()).status_code(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn invalid_definition_lists_every_problem_in_details() {
        let error = ApiError::InvalidDefinition(vec![
            FieldProblem::new("name", "is required"),
            FieldProblem::new("configuration.url", "must be an absolute https:// URL"),
        ]);
        assert_eq!(error.status_code(), StatusCode::BAD_REQUEST);
        let body = body_json(&error);
        assert_eq!(body["error"], "invalid_definition");
        assert_eq!(
            body["details"],
            json!([
                {"field": "name", "message": "is required"},
                {"field": "configuration.url", "message": "must be an absolute https:// URL"},
            ])
        );
        let message = body["message"].as_str().unwrap_or_default();
        assert!(message.contains("configuration.url"), "{message}");
    }
}
