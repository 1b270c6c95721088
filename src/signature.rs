//! Webhook signature verification behind a small trait. The built-in verifier follows
//! Standard Webhooks (<https://www.standardwebhooks.com/>, "Verifying webhook authenticity"):
//! `webhook-signature: v1,<base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}"))>`
//! (several space-separated signatures allowed), `webhook-timestamp` (unix seconds) within a
//! tolerance of now.
//!
//! Keys: a secret `whsec_<base64>` is base64-decoded (standard alphabet, canonical padding,
//! as the reference libraries decode it) into the HMAC key; any other secret is used as its
//! UTF-8 bytes. Several keys may be configured at once (rotation): a delivery verifies when
//! any key matches any of its `v1,` signatures.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use switchboard_actors::settings::RoutingSettings;

/// The prefix of a secret whose rest is the base64 of the key.
pub const SECRET_PREFIX: &str = "whsec_";

/// Why a signature was refused. Never contains a secret.
#[derive(Debug, Clone, PartialEq, Eq, derive_more::Display, derive_more::Error)]
pub enum SignatureError {
    /// A required header is missing.
    #[display("header {_0} is missing")]
    MissingHeader(#[error(not(source))] &'static str),
    /// `webhook-timestamp` is not a number or outside the accepted tolerance.
    #[display("webhook-timestamp is outside the accepted tolerance")]
    StaleTimestamp,
    /// No signature matches any key.
    #[display("no signature matches")]
    Mismatch,
}

/// Why a secret gives no key. The text never quotes the secret: the base64 decoder's own
/// error (which names the offending byte) is deliberately not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, derive_more::Display, derive_more::Error)]
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

/// A configured secret that gives no key, with the settings key that holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, derive_more::Display, derive_more::Error)]
#[display("{key}: {error}")]
pub struct KeyError {
    /// `routing.signing_secret` or `routing.signing_secrets`.
    pub key: &'static str,
    /// Why.
    #[error(source)]
    pub error: SecretError,
}

/// The HMAC-SHA256 key of one secret. Its `Debug` shows no key material.
#[derive(Clone)]
pub struct SigningKey(Hmac<Sha256>);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

impl SigningKey {
    /// The key of `secret`: `whsec_<base64>` decoded, otherwise the secret's UTF-8 bytes.
    ///
    /// Errors: [`SecretError`] when a `whsec_` secret is not base64 or carries no key.
    pub fn from_secret(secret: &str) -> Result<SigningKey, SecretError> {
        let bytes = match secret.strip_prefix(SECRET_PREFIX) {
            Some(encoded) => {
                let key = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .map_err(|_| SecretError::NotBase64)?;
                if key.is_empty() {
                    return Err(SecretError::EmptyKey);
                }
                key
            }
            None => secret.as_bytes().to_vec(),
        };
        Ok(SigningKey::from_bytes(&bytes))
    }

    /// A key of raw bytes (any length).
    pub fn from_bytes(key: &[u8]) -> SigningKey {
        match Hmac::<Sha256>::new_from_slice(key) {
            Ok(mac) => SigningKey(mac),
            Err(_) => unreachable!("HMAC takes keys of any length"),
        }
    }

    /// The HMAC over `"{id}.{timestamp}.{body}"`, not yet finalised.
    fn signed_content(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac = self.0.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
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
    ///
    /// Errors: [`SignatureError`] saying which check failed.
    fn verify(
        &self,
        headers: SignedHeaders<'_>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), SignatureError>;
}

/// The Standard Webhooks signature header value for one delivery:
/// `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`, `timestamp` as sent in
/// `webhook-timestamp` (unix seconds). With a key from [`SigningKey::from_secret`] this is
/// what a Standard Webhooks sender sends.
pub fn sign(key: &SigningKey, id: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = key
        .signed_content(id, timestamp, body)
        .finalize()
        .into_bytes();
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// Standard Webhooks HMAC-SHA256 verifier over one or more keys. Its `Debug` shows no key
/// material.
#[derive(Debug, Clone)]
pub struct StandardWebhooks {
    keys: Vec<SigningKey>,
    tolerance_secs: i64,
}

impl StandardWebhooks {
    /// A verifier accepting a signature by any of `keys` (at least one, or nothing verifies)
    /// with a timestamp within `tolerance_secs` of now.
    pub fn new(keys: Vec<SigningKey>, tolerance_secs: u64) -> Self {
        StandardWebhooks {
            keys,
            tolerance_secs: i64::try_from(tolerance_secs).unwrap_or(i64::MAX),
        }
    }

    /// The verifier of `[routing]`: the keys of `signing_secret` and every `signing_secrets`
    /// entry that is not empty (the same text once), with `signature_tolerance_secs`; `None`
    /// when no secret is set (signatures are not checked).
    ///
    /// Errors: [`KeyError`] naming the settings key of the first secret that gives no key.
    pub fn from_settings(routing: &RoutingSettings) -> Result<Option<Self>, KeyError> {
        let mut seen: Vec<&str> = Vec::new();
        let mut keys = Vec::new();
        let secrets = std::iter::once(("routing.signing_secret", &routing.signing_secret)).chain(
            routing
                .signing_secrets
                .iter()
                .map(|s| ("routing.signing_secrets", s)),
        );
        for (key, secret) in secrets {
            if secret.is_empty() || seen.contains(&secret.as_str()) {
                continue;
            }
            seen.push(secret);
            keys.push(SigningKey::from_secret(secret).map_err(|error| KeyError { key, error })?);
        }
        Ok((!keys.is_empty()).then(|| Self::new(keys, routing.signature_tolerance_secs)))
    }

    /// How many keys it holds.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }
}

impl SignatureVerifier for StandardWebhooks {
    fn verify(
        &self,
        h: SignedHeaders<'_>,
        body: &[u8],
        now_secs: i64,
    ) -> Result<(), SignatureError> {
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
        if now_secs.abs_diff(ts_secs) > self.tolerance_secs.unsigned_abs() {
            return Err(SignatureError::StaleTimestamp);
        }
        // Candidates are decoded once; the body is hashed once per key; each comparison is
        // in constant time.
        let candidates: Vec<Vec<u8>> = sigs
            .split_whitespace()
            .filter_map(|candidate| candidate.strip_prefix("v1,"))
            .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
            .collect();
        if candidates.is_empty() {
            return Err(SignatureError::Mismatch);
        }
        for key in &self.keys {
            let mac = key.signed_content(id, ts, body);
            if candidates
                .iter()
                .any(|expected| mac.clone().verify_slice(expected).is_ok())
            {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `whsec_` secret of the reference library's own tests.
    const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const OTHER_WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn key(secret: &str) -> SigningKey {
        SigningKey::from_secret(secret).expect("a valid secret")
    }

    fn headers<'a>(id: &'a str, ts: &'a str, sig: &'a str) -> SignedHeaders<'a> {
        SignedHeaders {
            id: Some(id),
            timestamp: Some(ts),
            signature: Some(sig),
        }
    }

    fn verifier(secrets: &[&str]) -> StandardWebhooks {
        StandardWebhooks::new(secrets.iter().map(|s| key(s)).collect(), 300)
    }

    #[test]
    fn a_whsec_secret_is_base64_decoded_and_any_other_is_its_bytes() {
        // The reference library's published vector (standardwebhooks 1.0.1, `test_sign`).
        let signature = sign(
            &key(WHSEC),
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            br#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");

        // Decoded: the same as the key given as its bytes, not as the text.
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&WHSEC[SECRET_PREFIX.len()..])
            .expect("base64");
        let from_bytes = sign(&SigningKey::from_bytes(&decoded), "m", "1", b"{}");
        assert_eq!(sign(&key(WHSEC), "m", "1", b"{}"), from_bytes);
        let as_text = sign(&SigningKey::from_bytes(WHSEC.as_bytes()), "m", "1", b"{}");
        assert_ne!(sign(&key(WHSEC), "m", "1", b"{}"), as_text);

        // Without the prefix: the UTF-8 bytes, even when the text looks like base64.
        for raw in [
            "whsec-test",
            "C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "s3cret=+/",
        ] {
            assert_eq!(
                sign(&key(raw), "m", "1", b"{}"),
                sign(&SigningKey::from_bytes(raw.as_bytes()), "m", "1", b"{}"),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_malformed_whsec_secret_is_refused_without_quoting_it() {
        for bad in [
            "whsec_Zm9v!YmFy",
            "whsec_Zm9vYmFyYg",
            "whsec_QUJD=",
            "whsec_QUJ D",
        ] {
            let err = SigningKey::from_secret(bad).expect_err(bad);
            assert_eq!(err, SecretError::NotBase64, "{bad}");
            let text = err.to_string();
            assert!(!text.contains(&bad[SECRET_PREFIX.len()..]), "{text}");
        }
        assert_eq!(
            SigningKey::from_secret("whsec_").expect_err("empty"),
            SecretError::EmptyKey
        );
        assert_eq!(
            SigningKey::from_secret("whsec_QUJD").map(|_| ()),
            Ok(()),
            "padded or not, as long as canonical"
        );
    }

    #[test]
    fn the_reference_library_signature_verifies() {
        let now = 1_700_000_000;
        let body = br#"{"dataActionId":"da-1","payload":{}}"#;
        let sender = standardwebhooks::Webhook::new(WHSEC).expect("reference secret");
        let sig = sender.sign("msg_1", now, body).expect("reference sign");
        let ts = now.to_string();
        let v = verifier(&[WHSEC]);
        assert_eq!(v.verify(headers("msg_1", &ts, &sig), body, now + 3), Ok(()));
        assert_eq!(sig, sign(&key(WHSEC), "msg_1", &ts, body));
        assert_eq!(
            v.verify(headers("msg_2", &ts, &sig), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(headers("msg_1", &ts, &sig), b"{}", now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn any_key_may_match_any_signature() {
        let (now, body) = (1_000, b"{}".as_slice());
        let v = verifier(&["old-raw-secret", WHSEC]);
        let by_old = sign(&key("old-raw-secret"), "m", "1000", body);
        let by_new = sign(&key(WHSEC), "m", "1000", body);
        let by_stranger = sign(&key(OTHER_WHSEC), "m", "1000", body);
        assert_eq!(v.verify(headers("m", "1000", &by_old), body, now), Ok(()));
        assert_eq!(v.verify(headers("m", "1000", &by_new), body, now), Ok(()));
        let both = format!("{by_stranger} v2,AAAA v1,!!! v1,AAAA {by_new}");
        assert_eq!(v.verify(headers("m", "1000", &both), body, now), Ok(()));
        assert_eq!(
            v.verify(headers("m", "1000", &by_stranger), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(headers("m", "1000", "v2,AAAA"), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verifier(&[]).verify(headers("m", "1000", &by_new), body, now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_outside_the_tolerance_are_refused_both_ways() {
        let v = verifier(&[WHSEC]);
        let sig = sign(&key(WHSEC), "m", "1000", b"{}");
        let h = headers("m", "1000", &sig);
        assert_eq!(v.verify(h, b"{}", 1300), Ok(()));
        assert_eq!(v.verify(h, b"{}", 700), Ok(()));
        assert_eq!(
            v.verify(h, b"{}", 1301),
            Err(SignatureError::StaleTimestamp)
        );
        assert_eq!(v.verify(h, b"{}", 699), Err(SignatureError::StaleTimestamp));
        let sig = sign(&key(WHSEC), "m", "soon", b"{}");
        assert_eq!(
            v.verify(headers("m", "soon", &sig), b"{}", 1000),
            Err(SignatureError::StaleTimestamp)
        );
        let huge = i64::MIN.to_string();
        let sig = sign(&key(WHSEC), "m", &huge, b"{}");
        assert_eq!(
            v.verify(headers("m", &huge, &sig), b"{}", i64::MAX),
            Err(SignatureError::StaleTimestamp)
        );
    }

    #[test]
    fn missing_headers_are_named() {
        let v = verifier(&[WHSEC]);
        let h = headers("m", "1000", "v1,AAAA");
        assert_eq!(
            v.verify(SignedHeaders { id: None, ..h }, b"{}", 1000),
            Err(SignatureError::MissingHeader("webhook-id"))
        );
        assert_eq!(
            v.verify(
                SignedHeaders {
                    timestamp: None,
                    ..h
                },
                b"{}",
                1000
            ),
            Err(SignatureError::MissingHeader("webhook-timestamp"))
        );
        assert_eq!(
            v.verify(
                SignedHeaders {
                    signature: None,
                    ..h
                },
                b"{}",
                1000
            ),
            Err(SignatureError::MissingHeader("webhook-signature"))
        );
    }

    #[test]
    fn the_settings_give_every_non_empty_secret_and_name_a_bad_one() {
        use figment::providers::{Format as _, Toml};
        let mut routing = figment::Figment::from(Toml::string(crate::config::DEFAULT_CONFIG))
            .extract::<crate::config::Settings>()
            .expect("defaults")
            .routing;
        assert!(StandardWebhooks::from_settings(&routing)
            .expect("no secrets")
            .is_none());
        routing.signing_secret = WHSEC.into();
        routing.signing_secrets = vec![String::new(), OTHER_WHSEC.into(), WHSEC.into()];
        let v = StandardWebhooks::from_settings(&routing)
            .expect("valid")
            .expect("a verifier");
        assert_eq!(v.key_count(), 2);
        routing.signing_secrets.push("whsec_%%%".into());
        let err = StandardWebhooks::from_settings(&routing).expect_err("refused");
        assert_eq!(err.key, "routing.signing_secrets");
        assert!(!err.to_string().contains("%%%"), "{err}");
        routing.signing_secret = "whsec_???".into();
        let err = StandardWebhooks::from_settings(&routing).expect_err("refused");
        assert_eq!(err.key, "routing.signing_secret");
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let v = verifier(&["hunter2-raw", WHSEC]);
        let text = format!("{v:?} {:?}", key("hunter2-raw"));
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("C2FVsBQ"), "{text}");
        assert!(text.contains("<redacted>"), "{text}");
    }
}
