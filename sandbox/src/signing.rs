//! Standard Webhooks signing of the events `POST /sandbox/emit` sends
//! (<https://www.standardwebhooks.com/>): the sandbox signs as a CXone-side sender would,
//! with its own code, so a mistake in the service's verifier shows.
//!
//! The key of a secret `whsec_<base64>` is the base64 (standard alphabet, padded) of what
//! follows the prefix; any other secret is used as its UTF-8 bytes. A delivery carries
//! `webhook-signature: v1,<base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))>`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use derive_more::Display;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a secret whose rest is the base64 of the key.
pub const WHSEC_PREFIX: &str = "whsec_";

/// Why a secret gives no key. The text never quotes the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Display)]
pub enum SecretError {
    /// What follows `whsec_` is not standard, padded base64.
    #[display(
        "a whsec_ secret must be followed by standard base64 (A-Z a-z 0-9 + /, padded with =)"
    )]
    NotBase64,
    /// Nothing follows `whsec_`.
    #[display("a whsec_ secret must carry a key after the prefix")]
    EmptyKey,
}

impl std::error::Error for SecretError {}

/// The HMAC-SHA256 key bytes of one secret. Its `Debug` shows no key material.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKey {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// The key of `secret`: what follows `whsec_` base64-decoded, otherwise the secret's
    /// UTF-8 bytes.
    ///
    /// Errors: [`SecretError::NotBase64`], [`SecretError::EmptyKey`] for a `whsec_` secret
    /// that is not base64 or decodes to nothing.
    pub fn from_secret(secret: &str) -> Result<SigningKey, SecretError> {
        let Some(encoded) = secret.strip_prefix(WHSEC_PREFIX) else {
            return Ok(SigningKey {
                bytes: secret.as_bytes().to_vec(),
            });
        };
        let bytes = BASE64.decode(encoded).map_err(|_| SecretError::NotBase64)?;
        if bytes.is_empty() {
            Err(SecretError::EmptyKey)
        } else {
            Ok(SigningKey { bytes })
        }
    }
}

/// The `webhook-signature` value for one delivery:
/// `v1,<base64(HMAC-SHA256(key, "{webhook_id}.{timestamp}.{body}"))>`, with `timestamp` in
/// unix seconds as sent in `webhook-timestamp`.
pub fn sign(key: &SigningKey, webhook_id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut content = Vec::with_capacity(webhook_id.len() + body.len() + 24);
    content.extend_from_slice(format!("{webhook_id}.{timestamp}.").as_bytes());
    content.extend_from_slice(body);
    // HMAC-SHA256 accepts keys of any length: the error branch cannot be taken.
    let digest = match Hmac::<Sha256>::new_from_slice(&key.bytes) {
        Ok(mut mac) => {
            mac.update(&content);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    };
    format!("v1,{}", BASE64.encode(digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_v1_and_base64_hmac_sha256_of_id_timestamp_and_body() {
        let key = |s| SigningKey::from_secret(s).expect("key");
        let signature = sign(&key("secret"), "msg_1", 1_700_000_000, b"{}");
        let encoded = signature.strip_prefix("v1,").expect("v1 prefix");
        let digest = BASE64.decode(encoded).expect("base64");
        assert_eq!(digest.len(), 32);
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").expect("key");
        mac.update(b"msg_1.1700000000.{}");
        assert!(mac.verify_slice(&digest).is_ok());
        assert_ne!(
            signature,
            sign(&key("other"), "msg_1", 1_700_000_000, b"{}")
        );
        assert_ne!(
            signature,
            sign(&key("secret"), "msg_1", 1_700_000_001, b"{}")
        );
    }

    #[test]
    fn a_whsec_secret_is_its_base64_key_and_bad_ones_are_refused() {
        let decoded = SigningKey::from_secret("whsec_c2VjcmV0").expect("base64 of `secret`");
        let plain = SigningKey::from_secret("secret").expect("plain");
        assert_eq!(decoded, plain);
        assert_eq!(
            SigningKey::from_secret("whsec_x!y"),
            Err(SecretError::NotBase64)
        );
        assert_eq!(
            SigningKey::from_secret("whsec_"),
            Err(SecretError::EmptyKey)
        );
        assert!(!SecretError::NotBase64.to_string().contains("x!y"));
        assert_eq!(format!("{plain:?}"), "SigningKey(<redacted>)");
    }
}
