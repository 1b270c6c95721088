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

/// Standard Webhooks HMAC-SHA256 verifier. The key is the secret's bytes.
pub struct StandardWebhooks {
    secret: Vec<u8>,
    tolerance_secs: i64,
}

impl StandardWebhooks {
    /// A verifier for `secret`, accepting timestamps within `tolerance_secs` of now.
    pub fn new(secret: &str, tolerance_secs: u64) -> Self {
        StandardWebhooks {
            secret: secret.as_bytes().to_vec(),
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
        for candidate in sigs.split_whitespace() {
            let Some(b64) = candidate.strip_prefix("v1,") else {
                continue;
            };
            let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(b64) else {
                continue;
            };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
                continue;
            };
            mac.update(id.as_bytes());
            mac.update(b".");
            mac.update(ts.as_bytes());
            mac.update(b".");
            mac.update(body);
            if mac.verify_slice(&expected).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn sign(secret: &str, id: &str, ts: &str, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(body);
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        )
    }

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
