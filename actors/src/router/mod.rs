//! The Kafka router: routing rules, the dedupe window, per-partition batching, the broker
//! connection, and the [`KafkaRouterActor`] that ties them together (seed 004).
//!
//! - `rules`: ordered `{pattern, topic, partition, field?}` rules, first match wins;
//! - `dedupe`: the window of event keys already routed;
//! - `batch`: per-partition queues, linger, batch limits, in-flight limit;
//! - `kafka`: rskafka connection, topic creation, partition checks;
//! - `event`: an event to route, its outcome, the record it becomes and its size;
//! - `intake`: an HTTP worker's buffer of events, sent to the router once per turn;
//! - `replies`: outcomes going back to the HTTP workers, one message per worker per step;
//! - `actor`: the actor and its messages.

mod actor;
pub mod batch;
pub mod dedupe;
mod event;
pub mod intake;
mod kafka;
pub mod replies;
pub mod rules;

pub use actor::{CheckBroker, KafkaRouterActor, RouteEvents};
pub use dedupe::{DedupeKey, DedupeStore, MemoryDedupe};
pub use event::{
    event_record, Reply, RouteError, RouteEvent, RouteOutcome, Routed, RECORD_OVERHEAD_BYTES,
    REQUEST_OVERHEAD_BYTES,
};
pub use intake::RouterIntake;
pub use kafka::{KafkaConnection, KafkaSetupError};
pub use replies::{Outbox, ReplyChannel, ReplyTo};
pub use rules::{Route, RuleConfig, RuleError, RuleSet};
