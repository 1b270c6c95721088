//! The router's vocabulary, shared by the actor, the intake, the replies and the batches: an
//! event to route ([`RouteEvent`]), its outcome ([`Reply`]), and the record it becomes with
//! the sizes batches are limited by.

use std::collections::BTreeMap;
use std::sync::Arc;

use rskafka::record::Record;
use tokio::sync::oneshot;

use super::dedupe::DedupeKey;
use super::rules::Route;

/// Encoding overhead of one record in a record batch (length, attributes, deltas, varints),
/// added to its key, value and headers so batches are sized by the request they make.
pub const RECORD_OVERHEAD_BYTES: usize = 16;
/// Overhead of one produce request (request and record batch headers, topic name), kept out
/// of `kafka.max_batch_bytes` so the whole request stays under it.
pub const REQUEST_OVERHEAD_BYTES: usize = 256;

/// The Kafka record of an event (seed 004): key = `dataActionId`, value = the compact
/// payload, headers `eventType` and `timestamp`, stamped now; with its size in a produce
/// request (bytes, [`RECORD_OVERHEAD_BYTES`] included), which batches are limited by.
pub fn event_record(
    data_action_id: String,
    event_type: String,
    timestamp: String,
    compact: String,
) -> (Record, usize) {
    let record = Record {
        key: Some(data_action_id.into_bytes()),
        value: Some(compact.into_bytes()),
        headers: BTreeMap::from([
            ("eventType".to_string(), event_type.into_bytes()),
            ("timestamp".to_string(), timestamp.into_bytes()),
        ]),
        timestamp: chrono::Utc::now(),
    };
    let size = record.approximate_size() + RECORD_OVERHEAD_BYTES;
    (record, size)
}

/// The record of an event sent to the dead-letter topic: [`event_record`]'s, with headers
/// `error` (the machine code the event would have been refused with) and `reason`.
pub fn dead_letter_record(
    data_action_id: String,
    event_type: String,
    timestamp: String,
    compact: String,
    why: &DeadLetterReason,
) -> (Record, usize) {
    let (record, _) = event_record(data_action_id, event_type, timestamp, compact);
    dead_letter_headers(record, why)
}

/// `record` with the dead-letter headers `error` and `reason` of `why`, and its size in a
/// produce request.
pub fn dead_letter_headers(mut record: Record, why: &DeadLetterReason) -> (Record, usize) {
    record
        .headers
        .insert("error".to_string(), why.code().as_bytes().to_vec());
    record
        .headers
        .insert("reason".to_string(), why.reason().into_bytes());
    let size = record.approximate_size() + RECORD_OVERHEAD_BYTES;
    (record, size)
}

/// Why an event went to the dead-letter topic (`routing.dead_letter_topic`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// No rule matched the payload.
    NoRoute,
    /// The broker refused the record for good (a non-retriable error such as
    /// `MessageTooLarge`, named here).
    Refused(String),
}

impl DeadLetterReason {
    /// The machine code (its `error` header): `no_route` (the code of the 422 the event gets
    /// without a dead-letter topic), or `record_refused`.
    pub fn code(&self) -> &'static str {
        match self {
            DeadLetterReason::NoRoute => "no_route",
            DeadLetterReason::Refused(_) => "record_refused",
        }
    }

    /// The text of its `reason` header.
    pub fn reason(&self) -> String {
        match self {
            DeadLetterReason::NoRoute => "no routing rule matches the event".to_string(),
            DeadLetterReason::Refused(error) => {
                format!("the broker refused the record for good: {error}")
            }
        }
    }
}

/// A Data Action event to route; the outcome comes through `reply` once decided (at once for
/// a duplicate or a refusal, when the broker answers otherwise). Build it with
/// [`RouteEvent::new`], which also returns the receiving end, and send it in a
/// [`RouteEvents`](super::RouteEvents) (through a [`RouterIntake`](super::RouterIntake)).
#[derive(Debug)]
pub struct RouteEvent {
    /// The event itself.
    pub event: Incoming,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Reply>,
}

impl RouteEvent {
    /// An event and the receiver of its outcome (a dropped sender means the router stopped).
    pub fn new(
        dedupe_key: DedupeKey,
        data_action_id: String,
        event_type: String,
        timestamp: String,
        compact: String,
        route: Option<Route>,
    ) -> (Self, oneshot::Receiver<Reply>) {
        let (reply, rx) = oneshot::channel();
        let event = Incoming {
            dedupe_key,
            data_action_id,
            event_type,
            timestamp,
            compact,
            route,
        };
        (RouteEvent { event, reply }, rx)
    }
}

/// An event to route without its reply sender: what the router's core admits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// Dedupe key: of the `webhook-id` header, or of `dataActionId` + `eventType` +
    /// `timestamp` ([`DedupeKey`]).
    pub dedupe_key: DedupeKey,
    /// `dataActionId`: the record key, and the id acknowledged once routed.
    pub data_action_id: String,
    /// `eventType`: a record header.
    pub event_type: String,
    /// `timestamp`: a record header.
    pub timestamp: String,
    /// The payload as written minus whitespace: the record value.
    pub compact: String,
    /// Where the first matching rule sends it ([`RuleSet::route`](super::RuleSet::route),
    /// decided by the sender so the router's one thread does not match every payload);
    /// `None`: no rule matched.
    pub route: Option<Route>,
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// Topic.
    pub topic: Arc<str>,
    /// Partition.
    pub partition: i32,
    /// Offset the broker assigned.
    pub offset: i64,
}

/// The result of routing one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The broker acknowledged the record.
    Routed(Routed),
    /// The event was routed before, within the dedupe window; nothing produced.
    Duplicate,
    /// The broker acknowledged the record on the dead-letter topic.
    DeadLettered {
        /// Where it landed.
        routed: Routed,
        /// Why it went there.
        reason: DeadLetterReason,
    },
}

/// Why an event was not routed. Nothing of it is in Kafka (or, for a timeout, may be:
/// the event is redelivered and produced at least once).
#[derive(Debug, Clone, PartialEq, Eq, derive_more::Display, derive_more::Error)]
pub enum RouteError {
    /// No rule matched the payload.
    #[display("no routing rule matches the event")]
    NoRoute,
    /// The router's queue is full (backpressure).
    #[display("the router's queue is full")]
    QueueFull,
    /// The broker did not acknowledge in time.
    #[display("the broker did not acknowledge within the produce timeout")]
    Timeout,
    /// The broker refused or failed; the client's error, when there is one, is the source.
    #[display("the broker failed: {_0}")]
    Broker(BrokerFailure),
    /// The router stopped (it is being restarted).
    #[display("the router restarted before the record was produced")]
    Stopped,
    /// Another replica is producing this event right now (shared dedupe): try again shortly,
    /// and it is a duplicate.
    #[display("another replica is routing this event right now")]
    InFlightElsewhere,
    /// The shared dedupe window could not be read (the state store failed): nothing produced.
    #[display("the shared dedupe window is unavailable: {_0}")]
    DedupeUnavailable(StateFailure),
}

/// A state store failure carried by a [`RouteError`] (its source).
#[derive(Debug, Clone, derive_more::Display)]
#[display("{_0}")]
pub struct StateFailure(pub Arc<crate::store::error::StoreError>);

impl std::error::Error for StateFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

/// Equal when their texts are (the store's error has no equality of its own).
impl PartialEq for StateFailure {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for StateFailure {}

/// How the broker failed a produce request ([`RouteError::Broker`]).
#[derive(Debug, Clone, derive_more::Display)]
pub enum BrokerFailure {
    /// The Kafka client's error (connection, protocol, or the broker's error code), shown
    /// as the client shows it and kept as [`source`](std::error::Error::source).
    #[display("{_0}")]
    Client(Arc<rskafka::client::error::Error>),
    /// The router has no partition client for the route: the rules and the connection's
    /// partitions diverged, so the records fail rather than vanish.
    #[display("no partition client")]
    NoPartitionClient,
    /// The broker returned fewer offsets than the request had records.
    #[display("the broker returned fewer offsets than records")]
    MissingOffset,
}

impl std::error::Error for BrokerFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BrokerFailure::Client(e) => Some(e.as_ref()),
            BrokerFailure::NoPartitionClient | BrokerFailure::MissingOffset => None,
        }
    }
}

/// Equal when of the same kind; client errors when their texts are equal (the client's
/// error type has no equality of its own).
impl PartialEq for BrokerFailure {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (BrokerFailure::Client(a), BrokerFailure::Client(b)) => {
                Arc::ptr_eq(a, b) || a.to_string() == b.to_string()
            }
            (BrokerFailure::NoPartitionClient, BrokerFailure::NoPartitionClient)
            | (BrokerFailure::MissingOffset, BrokerFailure::MissingOffset) => true,
            _ => false,
        }
    }
}

impl Eq for BrokerFailure {}

impl From<rskafka::client::error::Error> for BrokerFailure {
    fn from(e: rskafka::client::error::Error) -> Self {
        BrokerFailure::Client(Arc::new(e))
    }
}

/// The outcome of routing one event.
pub type Reply = Result<RouteOutcome, RouteError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_record_is_keyed_by_its_id_with_the_payload_as_value_and_two_headers() {
        let (record, size) = event_record(
            "da-1".into(),
            "created".into(),
            "2026-01-01T00:00:00Z".into(),
            r#"{"priority":"high"}"#.into(),
        );
        assert_eq!(record.key.as_deref(), Some(&b"da-1"[..]));
        assert_eq!(
            record.value.as_deref(),
            Some(&br#"{"priority":"high"}"#[..])
        );
        assert_eq!(record.headers["eventType"], b"created");
        assert_eq!(record.headers["timestamp"], b"2026-01-01T00:00:00Z");
        assert_eq!(record.headers.len(), 2);
        assert_eq!(size, record.approximate_size() + RECORD_OVERHEAD_BYTES);
    }

    #[test]
    fn a_broker_error_keeps_the_clients_error_as_its_source() {
        use std::error::Error as _;
        let client = rskafka::client::error::Error::InvalidResponse("truncated".into());
        let text = client.to_string();
        let e = RouteError::Broker(client.into());
        assert_eq!(e.to_string(), format!("the broker failed: {text}"));
        let failure = e.source().expect("the failure");
        let cause = failure.source().expect("the client's error");
        assert_eq!(cause.to_string(), text);
        assert!(RouteError::Broker(BrokerFailure::MissingOffset)
            .source()
            .and_then(|f| f.source())
            .is_none());
    }
}
