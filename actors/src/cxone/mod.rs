//! Everything that talks to the CXone API, one file per responsibility:
//!
//! - [`client`]: [`CxoneClient`], the one HTTP client of the API (rate slot, token,
//!   correlation id, retries, redirects, audit), the [`CxoneHandle`] actors keep to build it,
//!   and its [`ApiCall`], [`ApiResponse`] and [`CxoneError`];
//! - [`token`]: [`TokenActor`](token::TokenActor), the tenant's OAuth2 token;
//! - [`rate_limiter`]: [`RateLimiterActor`](rate_limiter::RateLimiterActor), the tenant's
//!   client-side rate limit and 429 pause;
//! - [`retry`]: the backoff and `Retry-After` policy every call shares.

pub mod client;
pub mod rate_limiter;
pub mod retry;
pub mod token;

pub use client::{ApiCall, ApiResponse, CxoneClient, CxoneError, CxoneHandle};
