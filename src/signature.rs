//! Webhook signature verification behind a small trait. The built-in verifier follows the
//! Standard Webhooks scheme: `webhook-signature: v1,<base64(HMAC-SHA256(secret,
//! "{webhook-id}.{webhook-timestamp}.{body}"))>` (several space-separated signatures allowed),
//! with `webhook-timestamp` (unix seconds) within a tolerance of now.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why a signature was refused. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, derive_more::Display)]
pub enum SignatureError {
    /// A required header is missing.
    #[display("header {_0} is missing")]
    MissingHeader(&'static str),
    /// `webhook-timestamp` is not a number or outside the tolerance.
    #[display("webhook-timestamp is outside the accepted tolerance")]
    StaleTimestamp,
    /// No signature matches.
    #[display("no signature matches")]
    Mismatch,
}

/// The headers a verifier reads.
#[derive(Debug, Clone, Copy)]
pub struct SignedHeaders<'a> {
    /// `webhook-id`.
    pub id: Option<&'a str>,
    /// `webhook-timestamp`.
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`.
    pub signature: Option<&'a str>,
}

/// Verifies a webhook's signature.
pub trait SignatureVerifier: Send + Sync {
    /// Checks `body` against the headers at unix time `now_secs`.
    fn verify(
        &self,
        headers: SignedHeaders<'_>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), SignatureError>;
}

/// HMAC-SHA256 keyed with the secret's UTF-8 bytes, over `"{id}.{timestamp}.{body}"`.
fn signed_content(key: &Hmac<Sha256>, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = key.clone();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn key(secret: &str) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// The Standard Webhooks signature header value for one delivery:
/// `v1,<base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}"))>`, with the secret's UTF-8
/// bytes as the key and `timestamp` as sent in `webhook-timestamp` (unix seconds).
pub fn sign(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    use base64::Engine as _;
    let digest = signed_content(&key(secret), id, timestamp, body)
        .finalize()
        .into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Standard Webhooks HMAC-SHA256 verifier. The key is the secret's bytes.
pub struct StandardWebhooks {
    /// HMAC keyed once with the secret (cloned per verification).
    key: Hmac<Sha256>,
    tolerance_secs: i64,
}

impl StandardWebhooks {
    /// A verifier for `secret`, accepting timestamps within `tolerance_secs` of now.
    pub fn new(secret: &str, tolerance_secs: u64) -> Self {
        StandardWebhooks {
            key: key(secret),
            tolerance_secs: tolerance_secs as i64,
        }
    }
}

impl SignatureVerifier for StandardWebhooks {
    fn verify(
        &self,
        h: SignedHeaders<'_>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), SignatureError> {
        use base64::Engine;
        let id = h.id.ok_or(SignatureError::MissingHeader("webhook-id"))?;
        let ts = h
            .timestamp
            .ok_or(SignatureError::MissingHeader("webhook-timestamp"))?;
        let sigs = h
            .signature
            .ok_or(SignatureError::MissingHeader("webhook-signature"))?;
        let ts_secs: i64 = ts
            .trim()
            .parse()
            .map_err(|_| SignatureError::StaleTimestamp)?;
        if (now_secs - ts_secs).abs() > self.tolerance_secs {
            return Err(SignatureError::StaleTimestamp);
        }
        // The body is hashed once; each `v1,` candidate is compared in constant time.
        let mac = signed_content(&self.key, id, ts, body);
        for candidate in sigs.split_whitespace() {
            let Some(b64) = candidate.strip_prefix("v1,") else {
                continue;
            };
            let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                continue;
            };
            if mac.clone().verify_slice(&expected).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_signature_passes_and_a_tampered_body_fails() {
        let v = StandardWebhooks::new("s3cret", 300);
        let sig = sign("s3cret", "msg_1", "1000", b"{}");
        let h = SignedHeaders {
            id: Some("msg_1"),
            timestamp: Some("1000"),
            signature: Some(&sig),
        };
        assert_eq!(v.verify(h, b"{}", 1010), Ok(()));
        assert_eq!(v.verify(h, b"{ }", 1010), Err(SignatureError::Mismatch));
        assert_eq!(
            v.verify(h, b"{}", 2000),
            Err(SignatureError::StaleTimestamp)
        );
        let other = sign("wrong", "msg_1", "1000", b"{}");
        let multi = format!("v1,AAAA {other} {sig}");
        assert_eq!(
            v.verify(
                SignedHeaders {
                    signature: Some(&multi),
                    ..h
                },
                b"{}",
                1000
            ),
            Ok(())
        );
        assert_eq!(
            v.verify(SignedHeaders { id: None, ..h }, b"{}", 1000),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
    }
}
