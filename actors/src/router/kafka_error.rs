//! The Kafka connection's errors, apart from it so that what sets the connection up (the
//! transport) can name them without importing it.

use std::sync::Arc;
use std::time::Duration;

/// A call to the broker that failed or was not answered within `kafka.connect_timeout_ms`.
#[derive(Debug, Clone, derive_more::Display, derive_more::Error)]
pub enum BrokerCallError {
    /// The Kafka client's error (connection, TLS, protocol, or the broker's error code), shown
    /// as the client shows it and kept whole.
    #[display("{_0}")]
    Client(#[error(not(source))] Arc<rskafka::client::error::Error>),
    /// No answer in time.
    #[display("no answer within {} ms", _0.as_millis())]
    Timeout(#[error(not(source))] Duration),
    /// The broker answers, but lacks routed topics (it lost them): produces to them fail
    /// until they are created again.
    #[display("routed topics missing: {} (created again when kafka.create_topics)", _0.join(", "))]
    TopicsMissing(#[error(not(source))] Vec<String>),
}

impl BrokerCallError {
    /// Whether the broker refused to create a topic because it exists (a race with another
    /// creator, which is fine).
    pub(super) fn is_topic_already_exists(&self) -> bool {
        matches!(
            self,
            BrokerCallError::Client(e) if matches!(
                e.as_ref(),
                rskafka::client::error::Error::ServerError {
                    protocol_error: rskafka::client::error::ProtocolError::TopicAlreadyExists,
                    ..
                }
            )
        )
    }
}

/// Why the router cannot start. Each is displayed with what it concerns (the key, topic or
/// partition); the broker's error is the [`source`](std::error::Error::source), printed after
/// it in a start-up error's chain.
#[derive(Debug, derive_more::Display, derive_more::Error)]
pub enum KafkaSetupError {
    /// The brokers did not answer in time or refused.
    #[display("kafka.brokers {brokers}: unreachable")]
    Unreachable {
        /// The bootstrap brokers.
        #[error(not(source))]
        brokers: String,
        /// What failed.
        source: BrokerCallError,
    },
    /// A routed topic is missing and `kafka.create_topics` is off.
    #[display("topic {topic}: does not exist and kafka.create_topics is false")]
    TopicMissing {
        /// The topic.
        #[error(not(source))]
        topic: String,
    },
    /// A routed topic could not be created, or its partition client not opened.
    #[display("topic {topic}: {action}")]
    Topic {
        /// The topic.
        #[error(not(source))]
        topic: String,
        /// What was being done: `cannot be created` or `cannot be opened`.
        #[error(not(source))]
        action: &'static str,
        /// What failed.
        source: BrokerCallError,
    },
    /// A TLS certificate or key file cannot be used (naming its setting).
    #[display("{_0}")]
    TlsFile(#[error(not(source))] crate::http::TlsError),
    /// `kafka.tls` is inconsistent.
    #[display("kafka.tls: {message}")]
    TlsSettings {
        /// What is wrong.
        message: String,
    },
    /// The TLS handshake with a broker failed: its certificate is not trusted, or does not
    /// name the broker's host.
    #[display("kafka.tls: {message}")]
    Tls {
        /// What failed, naming the broker.
        message: String,
    },
    /// `kafka.sasl` is inconsistent.
    #[display("kafka.sasl: {message}")]
    SaslSettings {
        /// What is wrong.
        message: String,
    },
    /// The brokers refused the SASL authentication (wrong user name or password, or a
    /// mechanism they do not offer). The message never holds the password.
    #[display("kafka.sasl ({mechanism}): authentication failed: {message}")]
    Sasl {
        /// The mechanism.
        mechanism: crate::settings::SaslMechanism,
        /// The client's error.
        message: String,
    },
    /// A rule names a partition its topic does not have.
    #[display("routing rule names partition {partition} of topic {topic}, which has partitions {existing:?}")]
    MissingPartition {
        /// The topic.
        #[error(not(source))]
        topic: String,
        /// The partition a rule names.
        partition: i32,
        /// The topic's partitions.
        existing: Vec<i32>,
    },
}
