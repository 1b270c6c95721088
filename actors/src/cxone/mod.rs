//! Everything that talks to the CXone API, one file per responsibility:
//!
//! - [`api`]: one function per call of the API the service uses, with the table of them —
//!   the only place a path of `[cxone.paths]` is named;
//! - [`client`]: [`CxoneClient`], the one HTTP client of the API (rate slot, token,
//!   correlation id, retries, redirects, audit), the [`CxoneHandle`] actors keep to build it,
//!   and its [`ApiCall`] and [`ApiResponse`];
//! - [`error`]: [`CxoneError`] and the [`TransportCause`] it keeps of a failure below HTTP;
//! - [`token`]: [`TokenActor`](token::TokenActor), the tenant's OAuth2 token;
//! - [`rate_limiter`]: [`RateLimiterActor`](rate_limiter::RateLimiterActor), the tenant's
//!   client-side rate limit and 429 pause;
//! - [`retry`]: the backoff and `Retry-After` policy every call shares;
//! - [`runtime`]: [`CxoneRuntime`], which starts the audit, token and rate limiter actors and
//!   makes the handle.

pub mod api;
pub mod client;
pub mod error;
pub mod rate_limiter;
pub mod retry;
pub mod runtime;
pub mod token;
pub mod token_cache;

pub use client::{ApiCall, ApiResponse, CxoneClient, CxoneHandle};
pub use error::{CxoneError, TransportCause, TransportKind};
pub use runtime::{CxoneRuntime, RuntimeError};

#[cfg(test)]
pub(crate) mod tests {
    use crate::settings::CxoneSettings;

    /// `[cxone]` of `config/default.toml`.
    pub(crate) fn default_settings() -> CxoneSettings {
        let toml = include_str!("../../../config/default.toml");
        let value: toml::Value = toml::from_str(toml).expect("default.toml");
        value["cxone"].clone().try_into().expect("[cxone]")
    }
}
