//! Run-time settings of the sandbox ("faults") and the parsing of `POST /sandbox/faults`.

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::options::SandboxOptions;

/// Longest `latency_ms` accepted (one hour), so a typo cannot park requests forever.
pub const MAX_LATENCY_MS: u64 = 3_600_000;

/// The sandbox's current settings, as `GET`/`POST /sandbox/faults` return them.
///
/// JSON: `{"rate_limit_per_minute": u32, "token_ttl_secs": u64, "error_rate": f64,
/// "throttle_rate": f64, "latency_ms": u64, "drop_webhooks": bool, "redirect_loop": bool,
/// "client_id": string, "client_secret": string}` (the secret is shown: this is a test double).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Faults {
    /// Per-tenant token bucket capacity and refill per minute (at least 1).
    pub rate_limit_per_minute: u32,
    /// Lifetime of tokens issued from now on, in seconds (at least 1).
    pub token_ttl_secs: u64,
    /// Fraction (0..=1) of authenticated, admitted API calls answered 503.
    pub error_rate: f64,
    /// Fraction (0..=1) of authenticated API calls that passed the token bucket but are
    /// answered 429 `rate_limited` with `Retry-After: 1` anyway (persistent throttling
    /// without draining a bucket). Decided before `error_rate`.
    pub throttle_rate: f64,
    /// Delay added before every admitted API call is handled, in milliseconds.
    pub latency_ms: u64,
    /// Completion webhooks of sub-flow executions are not sent (the executions still end).
    pub drop_webhooks: bool,
    /// Definition creation answers with an endless redirect (used by later parts).
    pub redirect_loop: bool,
    /// Client id accepted by the token endpoint.
    pub client_id: String,
    /// Client secret accepted by the token endpoint.
    pub client_secret: String,
}

impl Faults {
    /// The settings a fresh (or reset) sandbox starts with: the options' values, no faults.
    pub fn from_options(options: &SandboxOptions) -> Faults {
        Faults {
            rate_limit_per_minute: options.rate_limit_per_minute,
            token_ttl_secs: options.token_ttl_secs,
            error_rate: 0.0,
            throttle_rate: 0.0,
            latency_ms: 0,
            drop_webhooks: false,
            redirect_loop: false,
            client_id: options.client_id.clone(),
            client_secret: options.client_secret.clone(),
        }
    }
}

/// A validated change to [`Faults`]: each `Some` field replaces the current value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultsPatch {
    /// New `rate_limit_per_minute`.
    pub rate_limit_per_minute: Option<u32>,
    /// New `token_ttl_secs`.
    pub token_ttl_secs: Option<u64>,
    /// New `error_rate`.
    pub error_rate: Option<f64>,
    /// New `throttle_rate`.
    pub throttle_rate: Option<f64>,
    /// New `latency_ms`.
    pub latency_ms: Option<u64>,
    /// New `drop_webhooks`.
    pub drop_webhooks: Option<bool>,
    /// New `redirect_loop`.
    pub redirect_loop: Option<bool>,
    /// New `client_id`.
    pub client_id: Option<String>,
    /// New `client_secret`.
    pub client_secret: Option<String>,
}

impl FaultsPatch {
    /// Parses a `POST /sandbox/faults` body (a JSON object with any subset of the fields).
    ///
    /// An empty body means `{}`. Errors: [`ApiError::InvalidFaults`] naming every unknown
    /// field, wrongly typed or out-of-range value (nothing is applied then).
    pub fn parse(body: &[u8]) -> Result<FaultsPatch, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(FaultsPatch::default());
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::InvalidFaults(format!("body is not valid JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(ApiError::InvalidFaults(
                "body must be a JSON object of fault settings".to_owned(),
            ));
        };
        Self::from_fields(&fields)
    }

    fn from_fields(fields: &Map<String, Value>) -> Result<FaultsPatch, ApiError> {
        let mut patch = FaultsPatch::default();
        let mut problems = Vec::new();
        for (name, value) in fields {
            let problem = match name.as_str() {
                "rate_limit_per_minute" => match value.as_u64().map(u32::try_from) {
                    Some(Ok(n)) if n >= 1 => {
                        patch.rate_limit_per_minute = Some(n);
                        None
                    }
                    _ => Some("must be an integer from 1 to 4294967295"),
                },
                "token_ttl_secs" => match value.as_u64() {
                    Some(n) if n >= 1 => {
                        patch.token_ttl_secs = Some(n);
                        None
                    }
                    _ => Some("must be a positive integer (seconds)"),
                },
                "error_rate" => match value.as_f64() {
                    Some(x) if (0.0..=1.0).contains(&x) => {
                        patch.error_rate = Some(x);
                        None
                    }
                    _ => Some("must be a number from 0 to 1"),
                },
                "throttle_rate" => match value.as_f64() {
                    Some(x) if (0.0..=1.0).contains(&x) => {
                        patch.throttle_rate = Some(x);
                        None
                    }
                    _ => Some("must be a number from 0 to 1"),
                },
                "latency_ms" => match value.as_u64() {
                    Some(n) if n <= MAX_LATENCY_MS => {
                        patch.latency_ms = Some(n);
                        None
                    }
                    _ => Some("must be an integer from 0 to 3600000 (milliseconds)"),
                },
                "drop_webhooks" => match value.as_bool() {
                    Some(b) => {
                        patch.drop_webhooks = Some(b);
                        None
                    }
                    None => Some("must be a boolean"),
                },
                "redirect_loop" => match value.as_bool() {
                    Some(b) => {
                        patch.redirect_loop = Some(b);
                        None
                    }
                    None => Some("must be a boolean"),
                },
                "client_id" => match value.as_str() {
                    Some(s) if !s.is_empty() => {
                        patch.client_id = Some(s.to_owned());
                        None
                    }
                    _ => Some("must be a non-empty string"),
                },
                "client_secret" => match value.as_str() {
                    Some(s) if !s.is_empty() => {
                        patch.client_secret = Some(s.to_owned());
                        None
                    }
                    _ => Some("must be a non-empty string"),
                },
                _ => Some("is not a known fault setting"),
            };
            if let Some(problem) = problem {
                problems.push(format!("field `{name}` {problem}"));
            }
        }
        if problems.is_empty() {
            Ok(patch)
        } else {
            Err(ApiError::InvalidFaults(problems.join("; ")))
        }
    }

    /// Applies the patch; returns whether `rate_limit_per_minute` was given (the rate-limit
    /// buckets must then be reset to full at the new capacity).
    pub fn apply(self, faults: &mut Faults) -> bool {
        let rate_changed = self.rate_limit_per_minute.is_some();
        if let Some(v) = self.rate_limit_per_minute {
            faults.rate_limit_per_minute = v;
        }
        if let Some(v) = self.token_ttl_secs {
            faults.token_ttl_secs = v;
        }
        if let Some(v) = self.error_rate {
            faults.error_rate = v;
        }
        if let Some(v) = self.throttle_rate {
            faults.throttle_rate = v;
        }
        if let Some(v) = self.latency_ms {
            faults.latency_ms = v;
        }
        if let Some(v) = self.drop_webhooks {
            faults.drop_webhooks = v;
        }
        if let Some(v) = self.redirect_loop {
            faults.redirect_loop = v;
        }
        if let Some(v) = self.client_id {
            faults.client_id = v;
        }
        if let Some(v) = self.client_secret {
            faults.client_secret = v;
        }
        rate_changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<FaultsPatch, ApiError>) -> String {
        match result {
            Err(ApiError::InvalidFaults(message)) => message,
            other => panic!("expected invalid_faults, got {other:?}"),
        }
    }

    #[test]
    fn a_subset_of_fields_changes_only_those_fields() {
        let mut faults = Faults::from_options(&SandboxOptions::default());
        let patch =
            FaultsPatch::parse(br#"{"error_rate": 0.25, "latency_ms": 40}"#).expect("valid patch");
        assert!(!patch.clone().apply(&mut faults));
        assert_eq!(faults.error_rate, 0.25);
        assert_eq!(faults.latency_ms, 40);
        assert_eq!(faults.rate_limit_per_minute, 6000);
        assert_eq!(faults.client_id, "switchboard");
    }

    #[test]
    fn throttle_rate_defaults_to_zero_and_is_set_by_a_patch() {
        let mut faults = Faults::from_options(&SandboxOptions::default());
        assert_eq!(faults.throttle_rate, 0.0);
        let patch = FaultsPatch::parse(br#"{"throttle_rate": 0.75}"#).expect("valid patch");
        assert!(!patch.apply(&mut faults));
        assert_eq!(faults.throttle_rate, 0.75);
        assert_eq!(faults.error_rate, 0.0);
        let value = serde_json::to_value(&faults).expect("serialisable");
        assert_eq!(value["throttle_rate"], 0.75);
    }

    #[test]
    fn changing_the_rate_limit_is_reported() {
        let mut faults = Faults::from_options(&SandboxOptions::default());
        let patch = FaultsPatch::parse(br#"{"rate_limit_per_minute": 3}"#).expect("valid");
        assert!(patch.apply(&mut faults));
        assert_eq!(faults.rate_limit_per_minute, 3);
    }

    #[test]
    fn unknown_fields_and_wrong_types_are_named() {
        let text = message(FaultsPatch::parse(
            br#"{"latency": 5, "error_rate": "high"}"#,
        ));
        assert!(text.contains("`latency`"), "{text}");
        assert!(text.contains("`error_rate`"), "{text}");
        let text = message(FaultsPatch::parse(br#"{"rate_limit_per_minute": 0}"#));
        assert!(text.contains("`rate_limit_per_minute`"), "{text}");
        let text = message(FaultsPatch::parse(br#"{"error_rate": 1.5}"#));
        assert!(text.contains("`error_rate`"), "{text}");
        let text = message(FaultsPatch::parse(br#"{"throttle_rate": -0.1}"#));
        assert!(text.contains("`throttle_rate`"), "{text}");
        let text = message(FaultsPatch::parse(br#"{"throttle_rate": "often"}"#));
        assert!(text.contains("`throttle_rate`"), "{text}");
        let text = message(FaultsPatch::parse(br#"{"drop_webhooks": 1}"#));
        assert!(text.contains("`drop_webhooks`"), "{text}");
    }

    #[test]
    fn non_json_and_non_object_bodies_are_rejected_and_empty_is_a_no_op() {
        message(FaultsPatch::parse(b"not json"));
        message(FaultsPatch::parse(b"[1, 2]"));
        assert_eq!(
            FaultsPatch::parse(b"  ").expect("empty"),
            FaultsPatch::default()
        );
    }
}
