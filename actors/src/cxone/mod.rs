//! Everything that talks to the CXone API, one file per responsibility:
//!
//! - [`api`]: one function per call of the API the service uses, with the table of them —
//!   the only place a path of `[cxone.paths]` is named;
//! - [`client`]: [`CxoneClient`], the one HTTP client of the API (rate slot, token,
//!   correlation id, retries, redirects, audit), the [`CxoneHandle`] actors keep to build it,
//!   and its [`ApiCall`], [`ApiResponse`] and [`CxoneError`];
//! - [`token`]: [`TokenActor`](token::TokenActor), the tenant's OAuth2 token;
//! - [`rate_limiter`]: [`RateLimiterActor`](rate_limiter::RateLimiterActor), the tenant's
//!   client-side rate limit and 429 pause;
//! - [`retry`]: the backoff and `Retry-After` policy every call shares.

pub mod api;
pub mod client;
pub mod rate_limiter;
pub mod retry;
pub mod token;

pub use client::{ApiCall, ApiResponse, CxoneClient, CxoneError, CxoneHandle};
