//! Start-up options of the sandbox and its default credentials.

/// Client id the sandbox accepts by default (also the service's default `cxone.client_id`).
pub const DEFAULT_CLIENT_ID: &str = "switchboard";

/// Client secret the sandbox accepts by default (also the service's default
/// `cxone.client_secret`). A test double's secret: not a credential of any real tenant.
pub const DEFAULT_CLIENT_SECRET: &str = "switchboard-sandbox-secret";

/// Address the sandbox binds by default (`sandbox.bind`).
pub const DEFAULT_BIND: &str = "127.0.0.1:8090";

/// Default lifetime of an issued access token, in seconds.
pub const DEFAULT_TOKEN_TTL_SECS: u64 = 3600;

/// Default per-tenant rate limit, in API calls per minute (token bucket capacity).
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 6000;

/// Start-up options of the sandbox.
///
/// These are also the values `POST /sandbox/reset` restores; `POST /sandbox/faults` overrides
/// them at run time.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Address to bind, `host:port`; port `0` picks a free port (read it with
    /// [`Sandbox::port`](crate::Sandbox::port)). Default `127.0.0.1:8090`.
    pub bind: String,
    /// Client id accepted by `POST /oauth/token`; it is also the tenant of the tokens issued.
    pub client_id: String,
    /// Client secret accepted by `POST /oauth/token`.
    pub client_secret: String,
    /// Lifetime of an access token, in seconds (default 3600).
    pub token_ttl_secs: u64,
    /// Per-tenant rate limit, in API calls per minute (default 6000): a token bucket of this
    /// capacity refilled continuously, so a burst up to this count passes.
    pub rate_limit_per_minute: u32,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            bind: DEFAULT_BIND.to_owned(),
            client_id: DEFAULT_CLIENT_ID.to_owned(),
            client_secret: DEFAULT_CLIENT_SECRET.to_owned(),
            token_ttl_secs: DEFAULT_TOKEN_TTL_SECS,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_options_use_the_documented_values() {
        let options = SandboxOptions::default();
        assert_eq!(options.bind, "127.0.0.1:8090");
        assert_eq!(options.client_id, "switchboard");
        assert_eq!(options.client_secret, "switchboard-sandbox-secret");
        assert_eq!(options.token_ttl_secs, 3600);
        assert_eq!(options.rate_limit_per_minute, 6000);
    }
}
