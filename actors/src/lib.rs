//! The actors of switchboard and what they share.
//!
//! ```text
//!  HTTP routes (switchboard crate)
//!   ▲ │ RouteEvents (one per worker turn)    │ Acknowledge
//!   │ ▼ replies (one per worker per step)     ▼
//!  KafkaRouterActor ── rskafka ──▶ Kafka    AcknowledgementActor ── CxoneClient ──▶ CXone
//!   (dedupe window,                                     │ GetToken / Throttle
//!    partition batches)                                 ▼
//!                                          TokenActor, RateLimiterActor (per tenant)
//!  every CXone call ──▶ AuditActor (JSON lines)
//! ```
//!
//! Every long-lived actor runs under `actix::Supervisor` and logs its lifecycle
//! (`actor=<Name> event=started|stopping|restarted restarts=<n>`); [`StopActor`] forces a
//! restart. Logic lives in plain types that unit tests call without a running system
//! (rules, dedupe window, batching, retry policy); handlers are thin.

pub mod acknowledger;
pub mod audit;
pub mod cxone;
pub mod definitions;
pub mod deltas;
pub mod exports;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod orchestration;
pub mod problem;
pub mod rate_limiter;
pub mod retry;
pub mod router;
pub mod settings;
pub mod text;
pub mod token;

pub use acknowledger::{Acknowledge, AcknowledgementActor};
pub use audit::{AuditActor, AuditEvent, AuditOutcome, Flush};
pub use cxone::{ApiCall, ApiResponse, CxoneClient, CxoneError, CxoneHandle};
pub use lifecycle::StopActor;
pub use rate_limiter::{Grant, RateLimiterActor, Throttle};
pub use router::{
    CheckBroker, DedupeKey, KafkaConnection, KafkaRouterActor, KafkaSetupError, RouteError,
    RouteEvent, RouteOutcome, Routed, RuleSet,
};
pub use token::{AccessToken, GetToken, TokenActor, TokenError};
