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
//! Every actor and the messages it handles (each message is declared beside its handler):
//!
//! | actor | instances | handles |
//! |---|---|---|
//! | [`KafkaRouterActor`] | 1 | [`RouteEvents`](router::RouteEvents) (from each HTTP worker's [`RouterIntake`](router::RouterIntake)), [`CheckBroker`] |
//! | [`AcknowledgementActor`] | 1 | [`Acknowledge`] |
//! | [`TokenActor`] | 1 per tenant | [`GetToken`] |
//! | [`RateLimiterActor`] | 1 per tenant | [`Throttle`] |
//! | [`AuditActor`] | 1 | [`AuditEvent`], [`Flush`] |
//! | [`DefinitionActor`](definitions::DefinitionActor) | 1 | [`CreateDefinition`](definitions::CreateDefinition) |
//! | [`DeltaBatchActor`](deltas::DeltaBatchActor) | 1 | [`ApplyDelta`](deltas::ApplyDelta), [`ApplyBatch`](deltas::ApplyBatch) |
//! | [`RunsActor`](orchestration::RunsActor) | 1 | [`StartRun`](orchestration::StartRun), [`GetRun`](orchestration::GetRun), [`RunSettled`](orchestration::RunSettled) |
//! | [`OrchestrationActor`](orchestration::OrchestrationActor) | 1 per run | [`SubFlowFinished`](orchestration::SubFlowFinished), [`GetRunReport`](orchestration::GetRunReport) |
//! | [`SubFlowActor`](orchestration::SubFlowActor) | 1 per execution | `ExecutionCompleted` (from the completion router) |
//! | [`CompletionRouter`](orchestration::CompletionRouter) | 1 | [`Completion`](orchestration::Completion), `Watch`, `Unwatch` |
//! | [`ExportStreamActor`](exports::ExportStreamActor) | 1 per WebSocket | WebSocket frames, `Flushed` |
//!
//! Every long-lived actor runs under `actix::Supervisor`, keeps a [`Lifecycle`] that logs
//! `actor=<Name> event=started|stopping|restarted restarts=<n>`, and handles [`StopActor`],
//! which forces a restart, and [`GetLifecycle`], its line of the supervision view. Logic lives in plain types that unit tests call without a running
//! system (rules, dedupe window, batching, retry policy); handlers are thin. The CXone API is
//! called through one client ([`CxoneClient`]), and only by the functions of [`cxone::api`],
//! one per call, which list the API the service uses; [`CxoneRuntime`] starts the token, rate
//! limiter and audit actors those calls rely on.

pub mod acknowledger;
pub mod audit;
pub mod cxone;
pub mod definitions;
pub mod deltas;
pub mod drain;
pub mod exports;
pub mod http;
pub mod lifecycle;
pub mod metrics;
pub mod orchestration;
pub mod problem;
pub mod router;
pub mod settings;
pub mod store;
pub mod text;

pub use acknowledger::{Acknowledge, AcknowledgementActor};
pub use audit::{AuditActor, AuditEvent, AuditOutcome, Flush};
pub use cxone::error::TokenError;
pub use cxone::rate_limiter::{Grant, RateLimiterActor, Throttle};
pub use cxone::token::TokenActor;
pub use cxone::token_cache::{AccessToken, GetToken};
pub use cxone::{ApiCall, ApiResponse, CxoneClient, CxoneError, CxoneHandle, CxoneRuntime};
pub use drain::Drain;
pub use lifecycle::{GetLifecycle, LastRestart, Lifecycle, LifecycleReport, StopActor};
pub use router::{
    CheckBroker, DedupeKey, KafkaConnection, KafkaRouterActor, KafkaSetupError, RouteError,
    RouteEvent, RouteOutcome, Routed, RuleSet,
};
