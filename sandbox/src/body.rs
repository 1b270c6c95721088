//! Reading a request body with a size limit, after admission (so a refused call is not
//! charged for its body, and an oversized body gets a JSON 413 rather than actix's text one).

use actix_web::web::{self, Bytes, BytesMut};
use futures::StreamExt;

use super::error::ApiError;

/// Largest body accepted by the delta and definition endpoints, in bytes (16 MiB: a full
/// batch of 1000 records with generous fields fits many times over).
pub const MAX_API_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Reads the whole body, refusing more than `limit` bytes.
///
/// Errors: 413 [`ApiError::PayloadTooLarge`] past `limit`; 400 [`ApiError::InvalidPayload`]
/// when the connection fails mid-body.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Bytes, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidPayload(format!("body could not be read: {e}")))?;
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
