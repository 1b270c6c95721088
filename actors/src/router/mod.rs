//! The Kafka router: routing rules, the dedupe window, per-partition batching, the broker
//! connection, and the [`KafkaRouterActor`] that ties them together (seed 004).
//!
//! - `rules`: ordered `{pattern, topic, partition, field?}` rules, first match wins;
//! - `dedupe`: the window of event keys already routed;
//! - `batch`: per-partition queues, linger, batch limits, in-flight limit;
//! - `kafka`: rskafka connection, topic creation, partition checks;
//! - `event`: an event to route, its outcome, the record it becomes and its size;
//! - `core`: the bookkeeping of admission, batching and answers, as a plain type
//!   (`RouterCore`) the actor drives, unit-tested on its own;
//! - `intake`: an HTTP worker's buffer of events, sent to the router once per turn;
//! - `replies`: outcomes going back to the HTTP workers, one message per worker per step;
//! - `actor`: the actor and its messages.
//!
//! `batch` is public only with the `bench` feature, for the ingest bench's lean pipeline,
//! which batches the router's way.

mod actor;
#[cfg(feature = "bench")]
pub mod batch;
#[cfg(not(feature = "bench"))]
mod batch;
mod core;
pub mod dedupe;
mod event;
mod intake;
mod kafka;
mod kafka_error;
mod ledger;
mod replies;
pub mod rules;
mod transport;

pub use actor::{CheckBroker, KafkaRouterActor, RouteEvents};
pub use dedupe::{DedupeKey, DedupeStore, MemoryDedupe};
pub use event::{
    dead_letter_headers, dead_letter_record, event_record, BrokerFailure, DeadLetterReason, Reply,
    RouteError, RouteEvent, RouteOutcome, Routed, StateFailure, RECORD_OVERHEAD_BYTES,
    REQUEST_OVERHEAD_BYTES,
};
pub use intake::{RouterIntake, MAX_EVENTS_PER_MESSAGE};
pub use kafka::KafkaConnection;
pub use kafka_error::{BrokerCallError, KafkaSetupError};
pub use replies::ReplyChannel;
pub use rules::{rules_version, LiveRules, Route, RuleConfig, RuleError, RuleSet, RulesFileError};
