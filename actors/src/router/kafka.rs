//! The Kafka side of the router (rskafka): connect with a deadline, create missing topics,
//! check that every rule's partition exists, and open one partition client per route.
//!
//! rskafka has no request timeout of its own and retries without a deadline by default, so
//! every call here is bounded by `kafka.connect_timeout_ms` and its backoff has a deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;

use super::rules::{Route, RuleSet};
use crate::settings::KafkaSettings;

/// Why the router cannot start.
#[derive(Debug, derive_more::Display, derive_more::Error)]
pub enum KafkaSetupError {
    /// The brokers did not answer in time or refused.
    #[display("kafka.brokers {brokers}: {message}")]
    Unreachable {
        /// The bootstrap brokers.
        #[error(not(source))]
        brokers: String,
        /// What failed.
        message: String,
    },
    /// A routed topic is missing and `kafka.create_topics` is off, or creation failed.
    #[display("topic {topic}: {message}")]
    Topic {
        /// The topic.
        #[error(not(source))]
        topic: String,
        /// What failed.
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

/// The broker connection and one partition client per route.
pub struct KafkaConnection {
    client: Client,
    partitions: HashMap<Route, Arc<PartitionClient>>,
    timeout: Duration,
}

impl KafkaConnection {
    /// Connects, creates missing topics (when `kafka.create_topics`), checks partitions and
    /// opens a partition client for every route of `rules`.
    ///
    /// Errors: [`KafkaSetupError`] naming the brokers, topic or partition.
    pub async fn connect(
        settings: &KafkaSettings,
        rules: &RuleSet,
    ) -> Result<Self, KafkaSetupError> {
        let timeout = Duration::from_millis(settings.connect_timeout_ms);
        let brokers = settings.brokers.join(",");
        let unreachable = |message: String| KafkaSetupError::Unreachable {
            brokers: brokers.clone(),
            message,
        };
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            base: 2.0,
            deadline: Some(Duration::from_millis(settings.produce_timeout_ms.max(1))),
        };
        let client = bounded(
            timeout,
            ClientBuilder::new(settings.brokers.clone())
                .client_id("switchboard")
                .backoff_config(backoff)
                .build(),
        )
        .await
        .map_err(&unreachable)?;
        let mut topics = bounded(timeout, client.list_topics())
            .await
            .map_err(&unreachable)?;
        let targets = rules.targets();
        let missing: Vec<_> = targets
            .keys()
            .filter(|t| !topics.iter().any(|x| x.name == ***t))
            .cloned()
            .collect();
        if !missing.is_empty() {
            if !settings.create_topics {
                return Err(KafkaSetupError::Topic {
                    topic: missing[0].to_string(),
                    message: "does not exist and kafka.create_topics is false".into(),
                });
            }
            let controller = client
                .controller_client()
                .map_err(|e| unreachable(e.to_string()))?;
            for topic in &missing {
                let created = bounded(
                    timeout,
                    controller.create_topic(
                        topic.to_string(),
                        settings.topic_partitions,
                        settings.replication_factor,
                        settings.connect_timeout_ms as i32,
                    ),
                )
                .await;
                match created {
                    Ok(()) => log::info!(
                        "component=kafka event=topic_created topic={topic} partitions={}",
                        settings.topic_partitions
                    ),
                    Err(e) if e.contains("TopicAlreadyExists") => {}
                    Err(e) => {
                        return Err(KafkaSetupError::Topic {
                            topic: topic.to_string(),
                            message: format!("cannot be created: {e}"),
                        })
                    }
                }
            }
            topics = bounded(timeout, client.list_topics())
                .await
                .map_err(&unreachable)?;
        }
        let mut partitions = HashMap::new();
        for (topic, wanted) in &targets {
            let existing: Vec<i32> = topics
                .iter()
                .find(|t| t.name == **topic)
                .map(|t| t.partitions.iter().copied().collect())
                .unwrap_or_default();
            for &partition in wanted {
                if !existing.contains(&partition) {
                    return Err(KafkaSetupError::MissingPartition {
                        topic: topic.to_string(),
                        partition,
                        existing,
                    });
                }
                let pc = bounded(
                    timeout,
                    client.partition_client(
                        topic.to_string(),
                        partition,
                        UnknownTopicHandling::Retry,
                    ),
                )
                .await
                .map_err(|message| KafkaSetupError::Topic {
                    topic: topic.to_string(),
                    message,
                })?;
                partitions.insert(
                    Route {
                        topic: topic.clone(),
                        partition,
                    },
                    Arc::new(pc),
                );
            }
        }
        log::info!(
            "component=kafka event=connected brokers={brokers} routes={}",
            partitions.len()
        );
        Ok(KafkaConnection {
            client,
            partitions,
            timeout,
        })
    }

    /// The partition client of a route.
    pub fn partition(&self, route: &Route) -> Option<Arc<PartitionClient>> {
        self.partitions.get(route).cloned()
    }

    /// Asks the broker for metadata (readiness).
    ///
    /// Errors: the broker's or the timeout's message.
    pub async fn check(&self) -> Result<usize, String> {
        bounded(self.timeout, self.client.list_topics())
            .await
            .map(|t| t.len())
    }
}

/// Runs a fallible rskafka future with a deadline; errors become text.
async fn bounded<T, E: std::fmt::Display>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}
