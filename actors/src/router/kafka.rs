//! The Kafka side of the router (rskafka): connect with a deadline, create missing topics,
//! check that every rule's partition exists, and open one partition client per route.
//!
//! rskafka has no request timeout of its own and retries without a deadline by default, so
//! every call here is bounded by `kafka.connect_timeout_ms` and its backoff has a deadline.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::BackoffConfig;

use super::kafka_error::{BrokerCallError, KafkaSetupError};
use super::rules::{Route, RuleSet};
use super::transport::Transport;
use crate::settings::KafkaSettings;

/// The broker connection and one partition client per route.
pub struct KafkaConnection {
    client: Client,
    /// Only grows: a reload adds the clients of its new routes before its rules are in force
    /// ([`KafkaConnection::prepare`]).
    partitions: ArcSwap<HashMap<Route, Arc<PartitionClient>>>,
    timeout: Duration,
    setup: TopicSetup,
}

/// Every topic `rules` (and the dead-letter route) name, with the partitions they use.
fn targets_of(rules: &RuleSet, dead_letter: Option<&Route>) -> Targets {
    let mut targets = rules.targets();
    if let Some(route) = dead_letter {
        targets
            .entry(route.topic.clone())
            .or_default()
            .insert(route.partition);
    }
    targets
}

/// Topics with the partitions routed to.
type Targets = std::collections::BTreeMap<Arc<str>, std::collections::BTreeSet<i32>>;

/// Checks that every partition of `targets` exists among `topics` and opens a client for
/// each route `open` does not hold yet.
///
/// Errors: [`KafkaSetupError::MissingPartition`], or a partition client cannot be opened.
async fn open_routes(
    client: &Client,
    topics: &[rskafka::topic::Topic],
    targets: &Targets,
    open: &HashMap<Route, Arc<PartitionClient>>,
    timeout: Duration,
) -> Result<HashMap<Route, Arc<PartitionClient>>, KafkaSetupError> {
    let mut opened = HashMap::new();
    for (topic, wanted) in targets {
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
            let route = Route {
                topic: topic.clone(),
                partition,
            };
            if open.contains_key(&route) {
                continue;
            }
            let pc = bounded(
                timeout,
                client.partition_client(topic.to_string(), partition, UnknownTopicHandling::Retry),
            )
            .await
            .map_err(|source| KafkaSetupError::Topic {
                topic: topic.to_string(),
                action: "cannot be opened",
                source,
            })?;
            opened.insert(route, Arc::new(pc));
        }
    }
    Ok(opened)
}

/// The routed topics and how missing ones are created (`kafka.create_topics`,
/// `topic_partitions`, `replication_factor`).
struct TopicSetup {
    /// The routed topics; replaced by a reload.
    targets: ArcSwap<Targets>,
    create: bool,
    partitions: i32,
    replication: i16,
    timeout: Duration,
}

/// Why [`TopicSetup::ensure`] failed: a call to the broker, or the set-up itself.
enum SetupFailure {
    Call(BrokerCallError),
    Setup(KafkaSetupError),
}

impl TopicSetup {
    /// Lists the topics, creates the missing routed ones (when allowed), and answers the
    /// topics then listed with the names created.
    async fn ensure(
        &self,
        client: &Client,
        targets: &Targets,
    ) -> Result<(Vec<rskafka::topic::Topic>, Vec<String>), SetupFailure> {
        let timeout = self.timeout;
        let topics = bounded(timeout, client.list_topics())
            .await
            .map_err(SetupFailure::Call)?;
        let missing: Vec<_> = targets
            .keys()
            .filter(|t| !topics.iter().any(|x| x.name == ***t))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok((topics, Vec::new()));
        }
        if !self.create {
            return Err(SetupFailure::Setup(KafkaSetupError::TopicMissing {
                topic: missing[0].to_string(),
            }));
        }
        let controller = client
            .controller_client()
            .map_err(|e| SetupFailure::Call(BrokerCallError::Client(Arc::new(e))))?;
        let mut created = Vec::new();
        for topic in &missing {
            let made = bounded(
                timeout,
                controller.create_topic(
                    topic.to_string(),
                    self.partitions,
                    self.replication,
                    i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX),
                ),
            )
            .await;
            match made {
                Ok(()) => {
                    log::info!(
                        "component=kafka event=topic_created topic={topic} partitions={}",
                        self.partitions
                    );
                    created.push(topic.to_string());
                }
                Err(e) if e.is_topic_already_exists() => {}
                Err(source) => {
                    return Err(SetupFailure::Setup(KafkaSetupError::Topic {
                        topic: topic.to_string(),
                        action: "cannot be created",
                        source,
                    }))
                }
            }
        }
        let topics = bounded(timeout, client.list_topics())
            .await
            .map_err(SetupFailure::Call)?;
        Ok((topics, created))
    }
}

impl KafkaConnection {
    /// Connects, creates missing topics (when `kafka.create_topics`), checks partitions and
    /// opens a partition client for every route of `rules`, and for `dead_letter`.
    ///
    /// Errors: [`KafkaSetupError`] naming the brokers, topic or partition.
    pub async fn connect(
        settings: &KafkaSettings,
        rules: &RuleSet,
        dead_letter: Option<&Route>,
    ) -> Result<Self, KafkaSetupError> {
        let timeout = Duration::from_millis(settings.connect_timeout_ms);
        let brokers = settings.brokers.join(",");
        let unreachable = |source: BrokerCallError| KafkaSetupError::Unreachable {
            brokers: brokers.clone(),
            source,
        };
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            base: 2.0,
            deadline: Some(Duration::from_millis(settings.produce_timeout_ms.max(1))),
        };
        let transport = Transport::from_settings(settings)?;
        if let Some(first) = settings.brokers.first() {
            transport.probe(first, timeout).await?;
        }
        if transport.authenticates() {
            // rskafka retries a refused authentication until its backoff deadline, which
            // counts only the pauses between attempts: a short one here lets its error (the
            // SASL outcome) come back within the connect timeout.
            let quick = BackoffConfig {
                deadline: Some(timeout / 4),
                ..backoff.clone()
            };
            let probe = transport
                .apply(ClientBuilder::new(settings.brokers.clone()))
                .client_id("switchboard")
                .backoff_config(quick)
                .build();
            if let Err(e) = bounded(timeout, probe).await {
                if let Some(refused) = transport.authentication_failure(&e) {
                    return Err(refused);
                }
            }
        }
        // Bounded past the client's own retry deadline, so that its error (and cause) comes
        // back rather than a bare timeout.
        let build_timeout = timeout.max(Duration::from_millis(settings.produce_timeout_ms + 500));
        let built = bounded(
            build_timeout,
            transport
                .apply(ClientBuilder::new(settings.brokers.clone()))
                .client_id("switchboard")
                .backoff_config(backoff)
                .build(),
        )
        .await;
        let client = match built {
            Ok(client) => client,
            Err(e) => {
                if let Some(refused) = transport.authentication_failure(&e) {
                    return Err(refused);
                }
                return Err(unreachable(e));
            }
        };
        let targets = targets_of(rules, dead_letter);
        let setup = TopicSetup {
            targets: ArcSwap::from_pointee(targets.clone()),
            create: settings.create_topics,
            partitions: settings.topic_partitions,
            replication: settings.replication_factor,
            timeout,
        };
        let (topics, _) = setup.ensure(&client, &targets).await.map_err(|e| match e {
            SetupFailure::Call(source) => unreachable(source),
            SetupFailure::Setup(e) => e,
        })?;
        let partitions = open_routes(&client, &topics, &targets, &HashMap::new(), timeout).await?;
        log::info!(
            "component=kafka event=connected brokers={brokers} routes={}",
            partitions.len()
        );
        Ok(KafkaConnection {
            client,
            partitions: ArcSwap::from_pointee(partitions),
            timeout,
            setup,
        })
    }

    /// Readies the broker for `rules` before they are put in force (a reload): creates
    /// their missing topics (when `kafka.create_topics`), checks their partitions and opens
    /// a client for each new route; the routed topics are theirs (and `dead_letter`'s) from
    /// then on. Answers the topics created. Nothing changes when it fails.
    ///
    /// Errors: [`KafkaSetupError`] naming the topic or partition, or the brokers when a call
    /// failed.
    pub async fn prepare(
        &self,
        rules: &RuleSet,
        dead_letter: Option<&Route>,
    ) -> Result<Vec<String>, KafkaSetupError> {
        let targets = targets_of(rules, dead_letter);
        let (topics, created) =
            self.setup
                .ensure(&self.client, &targets)
                .await
                .map_err(|e| match e {
                    SetupFailure::Call(source) => KafkaSetupError::Unreachable {
                        brokers: "the brokers".into(),
                        source,
                    },
                    SetupFailure::Setup(e) => e,
                })?;
        let open = self.partitions.load_full();
        let opened = open_routes(&self.client, &topics, &targets, &open, self.timeout).await?;
        if !opened.is_empty() {
            let mut all = (*open).clone();
            all.extend(opened);
            self.partitions.store(Arc::new(all));
        }
        self.setup.targets.store(Arc::new(targets));
        Ok(created)
    }

    /// Creates again the routed topics the broker lost (when `kafka.create_topics`), as at
    /// start-up: after a broker restarted with empty storage, say. Answers the topics
    /// created.
    ///
    /// Errors: a call failed, or a topic is missing and may not be created.
    pub async fn repair_topics(&self) -> Result<Vec<String>, KafkaSetupError> {
        let brokers = "the brokers".to_string();
        let targets = self.setup.targets.load_full();
        self.setup
            .ensure(&self.client, &targets)
            .await
            .map(|(_, created)| created)
            .map_err(|e| match e {
                SetupFailure::Call(source) => KafkaSetupError::Unreachable { brokers, source },
                SetupFailure::Setup(e) => e,
            })
    }

    /// The partition client of a route.
    pub fn partition(&self, route: &Route) -> Option<Arc<PartitionClient>> {
        self.partitions.load().get(route).cloned()
    }

    /// Asks the broker for metadata (readiness): the number of topics.
    ///
    /// Errors: the client's error, no answer within `kafka.connect_timeout_ms`, or
    /// [`BrokerCallError::TopicsMissing`] naming the routed topics the broker lacks.
    pub async fn check(&self) -> Result<usize, BrokerCallError> {
        let topics = bounded(self.timeout, self.client.list_topics()).await?;
        let missing: Vec<String> = self
            .setup
            .targets
            .load()
            .keys()
            .filter(|t| !topics.iter().any(|x| x.name == ***t))
            .map(|t| t.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(BrokerCallError::TopicsMissing(missing));
        }
        Ok(topics.len())
    }
}

/// Runs a fallible rskafka future with a deadline.
async fn bounded<T>(
    timeout: Duration,
    fut: impl std::future::Future<Output = Result<T, rskafka::client::error::Error>>,
) -> Result<T, BrokerCallError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(BrokerCallError::Client(Arc::new(e))),
        Err(_) => Err(BrokerCallError::Timeout(timeout)),
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn settings(brokers: String) -> KafkaSettings {
        KafkaSettings {
            brokers: vec![brokers],
            create_topics: true,
            topic_partitions: 1,
            replication_factor: 1,
            produce_timeout_ms: 300,
            connect_timeout_ms: 300,
            linger_ms: 0,
            max_batch_bytes: 7168,
            max_batch_records: 100,
            max_in_flight: 1,
            queue_capacity: 10,
            compression: crate::settings::KafkaCompression::None,
            tls: Default::default(),
            sasl: Default::default(),
        }
    }

    #[actix_rt::test]
    async fn an_unreachable_broker_is_named_by_its_key_with_the_clients_error_as_the_source() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let brokers = format!("127.0.0.1:{port}");
        let rules = RuleSet::from_toml("[[rules]]\npattern = '.*'\ntopic = 't'\npartition = 0\n")
            .expect("rules");
        let Err(e) = KafkaConnection::connect(&settings(brokers.clone()), &rules, None).await
        else {
            panic!("connected to nothing");
        };
        assert_eq!(
            e.to_string(),
            format!("kafka.brokers {brokers}: unreachable")
        );
        let cause = e.source().expect("the broker call's error");
        let cause = cause
            .downcast_ref::<BrokerCallError>()
            .expect("a BrokerCallError");
        assert!(
            matches!(
                cause,
                BrokerCallError::Client(_) | BrokerCallError::Timeout(_)
            ),
            "{cause:?}"
        );
    }

    #[test]
    fn only_the_brokers_topic_already_exists_code_is_taken_for_an_existing_topic() {
        use rskafka::client::error::{Error, ProtocolError};
        let exists = BrokerCallError::Client(Arc::new(Error::ServerError {
            protocol_error: ProtocolError::TopicAlreadyExists,
            error_message: None,
            request: rskafka::client::error::RequestContext::Topic("t".into()),
            response: None,
            is_virtual: false,
        }));
        assert!(exists.is_topic_already_exists());
        let other = BrokerCallError::Client(Arc::new(Error::InvalidResponse(
            "TopicAlreadyExists".into(),
        )));
        assert!(!other.is_topic_already_exists(), "not by its text");
        assert!(!BrokerCallError::Timeout(Duration::from_millis(1)).is_topic_already_exists());
    }
}
