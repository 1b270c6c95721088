//! Request bodies: a JSON content type (415 otherwise), at most `server.max_body_bytes`
//! (413 otherwise), and JSON (400 `malformed_json` otherwise).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest};
use futures::StreamExt;

use crate::error::ApiError;

/// Whether a `Content-Type` value is JSON (`application/json`, any parameters, or `+json`).
pub fn is_json_content_type(value: Option<&str>) -> bool {
    let Some(value) = value else { return false };
    let essence = value.split(';').next().unwrap_or("").trim();
    let (head, tail) = (
        essence.get(..12),
        essence.get(essence.len().saturating_sub(5)..),
    );
    essence.eq_ignore_ascii_case("application/json")
        || (head.is_some_and(|h| h.eq_ignore_ascii_case("application/"))
            && tail.is_some_and(|t| t.eq_ignore_ascii_case("+json")))
}

/// Reads the body, refusing more than `limit` bytes with 413.
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than server.max_body_bytes ({limit} bytes)"),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "payload_error",
                format!("reading the body: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Checks the content type, then reads at most `limit` bytes.
///
/// Errors: 415 `unsupported_media_type`, 413 `payload_too_large`, 400 `payload_error`.
pub async fn read_json_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok());
    if !is_json_content_type(content_type) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ));
    }
    read_body(req, payload, limit).await
}

/// Parses JSON.
///
/// Errors: 400 `malformed_json` with the parser's message.
pub fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not JSON: {e}"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types_are_recognised_with_parameters_and_suffixes() {
        assert!(is_json_content_type(Some("application/json")));
        assert!(is_json_content_type(Some(
            "application/json; charset=utf-8"
        )));
        assert!(is_json_content_type(Some("Application/JSON")));
        assert!(is_json_content_type(Some("application/cloudevents+json")));
        assert!(!is_json_content_type(Some("text/plain")));
        assert!(!is_json_content_type(Some(
            "application/x-www-form-urlencoded"
        )));
        assert!(!is_json_content_type(None));
    }

    #[test]
    fn malformed_json_is_a_400_with_its_code() {
        let e = parse_json(b"{nope").expect_err("malformed");
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "malformed_json")
        );
    }
}
