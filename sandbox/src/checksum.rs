//! The payload checksum of delta requests (seed 001): `X-Payload-Checksum` carries the
//! lowercase SHA-256 hex of the raw body bytes.

use std::fmt::Write as _;

use actix_web::http::header::HeaderMap;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// The lowercase SHA-256 hex of `bytes` (64 characters): the checksum a delta request
/// carries in `X-Payload-Checksum` (seed 001).
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            // Writing to a String cannot fail.
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

/// Header carrying the lowercase SHA-256 hex of the body (required).
pub const CHECKSUM_HEADER: &str = "x-payload-checksum";

/// Checks `X-Payload-Checksum` against the body and returns it.
///
/// Errors: [`ApiError::ChecksumMissing`], [`ApiError::ChecksumMismatch`] (also for a header
/// that is not visible ASCII).
pub fn verify_checksum(headers: &HeaderMap, body: &[u8]) -> Result<String, ApiError> {
    let value = headers
        .get(CHECKSUM_HEADER)
        .ok_or(ApiError::ChecksumMissing)?;
    let given = String::from_utf8_lossy(value.as_bytes()).into_owned();
    if given == sha256_hex(body) {
        Ok(given)
    } else {
        Err(ApiError::ChecksumMismatch(given))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header;

    #[test]
    fn the_checksum_of_nothing_is_the_known_empty_digest() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn the_checksum_is_the_lowercase_sha256_hex_of_the_body() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let mut headers = HeaderMap::new();
        assert_eq!(
            verify_checksum(&headers, b"abc"),
            Err(ApiError::ChecksumMissing)
        );
        headers.insert(
            header::HeaderName::from_static(CHECKSUM_HEADER),
            header::HeaderValue::from_static(
                "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            ),
        );
        assert!(matches!(
            verify_checksum(&headers, b"abc"),
            Err(ApiError::ChecksumMismatch(_))
        ));
        headers.insert(
            header::HeaderName::from_static(CHECKSUM_HEADER),
            header::HeaderValue::from_str(&sha256_hex(b"abc")).expect("ascii"),
        );
        assert_eq!(verify_checksum(&headers, b"abc"), Ok(sha256_hex(b"abc")));
    }
}
