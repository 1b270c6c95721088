//! Typed settings of the subsystems the actors run. Every field is documented in
//! `config/default.toml`; the service crate composes these into its `Settings`, loads them
//! (defaults → file → environment) and validates them at start-up.

use serde::{Deserialize, Deserializer};

/// A list that may also be given as one comma-separated string (environment variables).
pub fn string_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        OneOrMany::Many(v) => v,
    })
}

/// `[kafka]`: brokers, topic creation, batching and backpressure of the Kafka router.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    /// Bootstrap brokers as `host:port`.
    #[serde(deserialize_with = "string_list")]
    pub brokers: Vec<String>,
    /// Create missing routed topics at start-up.
    pub create_topics: bool,
    /// Partitions of topics switchboard creates.
    pub topic_partitions: i32,
    /// Replication factor of topics switchboard creates.
    pub replication_factor: i16,
    /// Longest wait (ms) for the broker's acknowledgement before answering 503.
    pub produce_timeout_ms: u64,
    /// Longest wait (ms) for the broker at start-up and in readiness checks.
    pub connect_timeout_ms: u64,
    /// How long (ms) a partition batch lingers for more records.
    pub linger_ms: u64,
    /// Largest produce request per partition, in bytes of record key + value.
    pub max_batch_bytes: usize,
    /// Largest number of records per produce request.
    pub max_batch_records: usize,
    /// Produce requests in flight per partition.
    pub max_in_flight: usize,
    /// Records accepted but not yet acknowledged by the broker, over all partitions.
    pub queue_capacity: usize,
    /// The codec of every produce batch.
    pub compression: KafkaCompression,
    /// TLS to the brokers.
    #[serde(default)]
    pub tls: KafkaTlsSettings,
    /// SASL authentication to the brokers.
    #[serde(default)]
    pub sasl: KafkaSaslSettings,
}

/// `[kafka.tls]`: TLS to the brokers (rustls; TLS 1.2 and 1.3). The broker's certificate is
/// verified against the roots (the Mozilla roots of `webpki-roots`, plus `ca_file`) and the
/// broker's host as configured in `kafka.brokers` or advertised by the cluster.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaTlsSettings {
    /// Speak TLS to every broker.
    pub enabled: bool,
    /// PEM file of CA certificates to trust besides the built-in roots; empty: none.
    pub ca_file: String,
    /// PEM certificate chain presented to the brokers (mutual TLS); empty: none.
    pub cert_file: String,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
}

/// `kafka.sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, derive_more::Display)]
pub enum SaslMechanism {
    /// No SASL.
    #[default]
    #[serde(rename = "")]
    #[display("none")]
    None,
    /// `PLAIN` (RFC 4616): the password crosses the connection, so use it over TLS.
    #[serde(rename = "PLAIN")]
    #[display("PLAIN")]
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    #[serde(rename = "SCRAM-SHA-256")]
    #[display("SCRAM-SHA-256")]
    ScramSha256,
    /// `SCRAM-SHA-512`.
    #[serde(rename = "SCRAM-SHA-512")]
    #[display("SCRAM-SHA-512")]
    ScramSha512,
}

/// `[kafka.sasl]`: SASL authentication to the brokers. Its `Debug` never shows the password.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaSaslSettings {
    /// The mechanism; empty: none.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    /// The password (a secret: never logged, audited, shown in errors, `/metrics` or
    /// `/readyz`).
    pub password: String,
}

impl std::fmt::Debug for KafkaSaslSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSaslSettings")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() {
                    ""
                } else {
                    "<redacted>"
                },
            )
            .finish()
    }
}

/// `kafka.compression`: how produce batches are compressed (Kafka's record-batch codecs;
/// consumers decompress them whatever their client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, derive_more::Display)]
#[serde(rename_all = "lowercase")]
pub enum KafkaCompression {
    /// Uncompressed.
    #[default]
    #[display("none")]
    None,
    /// gzip.
    #[display("gzip")]
    Gzip,
    /// LZ4 (framed, as Kafka uses it).
    #[display("lz4")]
    Lz4,
    /// Snappy (xerial framing, as Kafka uses it).
    #[display("snappy")]
    Snappy,
    /// Zstandard.
    #[display("zstd")]
    Zstd,
}

/// `routing.dedupe`: where the dedupe window lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DedupeMode {
    /// In this process (one replica): no round trip per event.
    Memory,
    /// In the state store, so a redelivery to any replica within the window is a duplicate;
    /// keys are reserved per router step (one round trip for the step's events).
    Shared,
}

/// `[routing]`: rules file, dedupe window, acknowledgement queue, webhook signatures.
/// Its `Debug` shows how many signing secrets are set, never them.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSettings {
    /// Path of the routing rules (TOML `[[rules]]`).
    pub rules_file: String,
    /// Where the dedupe window lives: in this process, or in the state store for replicas.
    pub dedupe: DedupeMode,
    /// Seconds an event key is remembered for dedupe.
    pub dedupe_window_secs: u64,
    /// Event keys remembered at most.
    pub dedupe_capacity: usize,
    /// Pending acknowledgements held before new ones are dropped.
    pub ack_queue_capacity: usize,
    /// Acknowledgement calls in flight at once.
    pub ack_concurrency: usize,
    /// Accept top-level event fields other than the four known ones.
    pub allow_unknown_fields: bool,
    /// Standard Webhooks signing secret (`whsec_<base64>`, or any other text used as its
    /// bytes); empty: none. Never logged.
    pub signing_secret: String,
    /// More signing secrets, for rotation: a delivery verifies when any secret (this list or
    /// `signing_secret`) matches any `v1,` signature. Signatures are checked when at least one
    /// secret is set. Never logged.
    #[serde(deserialize_with = "string_list")]
    pub signing_secrets: Vec<String>,
    /// Largest accepted clock difference (s) of `webhook-timestamp` when signed.
    pub signature_tolerance_secs: u64,
    /// Deepest nesting of an event's JSON, counted from its outer object (depth 1); deeper
    /// events are refused with 400 `invalid_event`.
    pub max_depth: usize,
    /// Largest `dataActionId`, `eventType` and `timestamp`, in bytes of their decoded text;
    /// longer ones are refused with 400 `invalid_event` naming the field.
    pub max_field_bytes: usize,
    /// Dead-letter topic: an event no rule matches is produced to its partition 0 (with
    /// headers `error`, `reason`, and the event's `eventType` and `timestamp`) and answered
    /// `dead_lettered` once the broker acknowledged it; empty: such an event is refused 422
    /// `no_route`.
    pub dead_letter_topic: String,
}

impl std::fmt::Debug for RoutingSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured without `..`: a new field does not compile until it is listed here.
        let RoutingSettings {
            rules_file,
            dedupe,
            dedupe_window_secs,
            dedupe_capacity,
            ack_queue_capacity,
            ack_concurrency,
            allow_unknown_fields,
            signing_secret,
            signing_secrets,
            signature_tolerance_secs,
            max_depth,
            max_field_bytes,
            dead_letter_topic,
        } = self;
        let redacted = |s: &String| if s.is_empty() { "" } else { "<redacted>" };
        let secrets: Vec<&str> = signing_secrets.iter().map(redacted).collect();
        f.debug_struct("RoutingSettings")
            .field("rules_file", rules_file)
            .field("dedupe", dedupe)
            .field("dedupe_window_secs", dedupe_window_secs)
            .field("dedupe_capacity", dedupe_capacity)
            .field("ack_queue_capacity", ack_queue_capacity)
            .field("ack_concurrency", ack_concurrency)
            .field("allow_unknown_fields", allow_unknown_fields)
            .field("signing_secret", &redacted(signing_secret))
            .field("signing_secrets", &secrets)
            .field("signature_tolerance_secs", signature_tolerance_secs)
            .field("max_depth", max_depth)
            .field("max_field_bytes", max_field_bytes)
            .field("dead_letter_topic", dead_letter_topic)
            .finish()
    }
}

/// `[cxone]`: the CXone tenant, OAuth2 credentials, retries, rate limit and API paths.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CxoneSettings {
    /// API base URL without a trailing slash, e.g. `https://api.us.ctys.niceincontact.com`.
    pub base_url: String,
    /// OAuth2 grant type.
    pub grant_type: GrantType,
    /// OAuth2 client id.
    pub client_id: String,
    /// OAuth2 client secret. Never logged (see the `Debug` impl).
    pub client_secret: String,
    /// Access key id for the `password` grant.
    pub access_key_id: String,
    /// Access key secret for the `password` grant. Never logged.
    pub access_key_secret: String,
    /// Scopes requested with the token.
    #[serde(deserialize_with = "string_list")]
    pub scopes: Vec<String>,
    /// Seconds before expiry at which the token is refreshed.
    pub token_refresh_margin_secs: u64,
    /// Attempts per call, the first included, for 429/5xx/transport errors.
    pub max_attempts: u32,
    /// First retry delay (ms); doubles per attempt, with jitter.
    pub backoff_initial_ms: u64,
    /// Longest retry delay (ms).
    pub backoff_max_ms: u64,
    /// Timeout (ms) of one HTTP request.
    pub request_timeout_ms: u64,
    /// PEM file of extra CA certificates to trust (empty: the webpki roots only).
    pub ca_file: String,
    /// Client-side GCRA limit: sustained requests per minute.
    pub requests_per_minute: u32,
    /// Client-side GCRA limit: burst size.
    pub burst: u32,
    /// API paths relative to `base_url`.
    pub paths: CxonePaths,
}

impl std::fmt::Debug for CxoneSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CxoneSettings")
            .field("base_url", &self.base_url)
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("scopes", &self.scopes)
            .field("max_attempts", &self.max_attempts)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

/// OAuth2 grant used to obtain tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `client_credentials`: client id and secret in the form body.
    ClientCredentials,
    /// `password`: access key id/secret as username/password, client credentials as Basic auth.
    Password,
}

/// `[cxone.paths]`: API paths; `{id}` and `{execution_id}` are replaced per call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CxonePaths {
    /// OAuth2 token endpoint.
    pub token: String,
    /// Execute a sub-flow (Data Action) by id.
    pub execute: String,
    /// Execution status (poll fallback).
    pub execution_status: String,
    /// Register a completion webhook.
    pub register_webhook: String,
    /// Delta records PATCH.
    pub delta_records: String,
    /// Create a definition.
    pub create_definition: String,
    /// Start an export job.
    pub start_export: String,
    /// Page an export job's records.
    pub export_records: String,
    /// Acknowledge a Data Action event.
    pub acknowledge: String,
}

/// `[definitions]`: Data Action definition creation (seed 002).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefinitionSettings {
    /// Admit `http://` URLs in REST configurations.
    pub allow_http: bool,
    /// Where `data_action.created` events are POSTed; empty: off.
    pub callback_url: String,
    /// Redirects followed at most before `too_many_redirects`.
    pub max_redirects: u8,
    /// Retries after a 429 (delays 1 s, 2 s, 4 s, … or `Retry-After`) before `rate_limited`.
    pub rate_limit_retries: u32,
    /// Extra headers sent with every definition call (part of the header matrix).
    pub extra_headers: std::collections::BTreeMap<String, String>,
}

/// `[deltas]`: delta updates (seed 001).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaSettings {
    /// Where replication events are POSTed after each batch; empty: off.
    pub replication_webhook_url: String,
    /// Records per batch, at most 1000 (the API's maximum).
    pub max_batch_size: usize,
    /// Attempts per replication event.
    pub replication_attempts: u32,
}

/// `[orchestration]`: sub-flow executions (seed 000).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrchestrationSettings {
    /// Completion webhook URL registered with CXone; empty derives it from `server.bind`.
    pub callback_url: String,
    /// Delay (ms) after the execution POST before a sub-flow without a completion webhook
    /// starts polling.
    pub poll_after_ms: u64,
    /// Interval (ms) between status polls.
    pub poll_interval_ms: u64,
    /// Seconds after which a running execution is `timed_out`.
    pub execution_timeout_secs: u64,
    /// Largest plan accepted, in sub-flows.
    pub max_sub_flows: usize,
    /// Largest plan body accepted by `POST /orchestrations`, bytes (a plan of
    /// `max_sub_flows` sub-flows is a few MB, more than `server.max_body_bytes`).
    pub max_plan_bytes: usize,
    /// Finished runs whose reports are kept (oldest forgotten first), in memory and in the
    /// state store (older settled runs are deleted there at start-up and every minute).
    pub keep_finished_runs: usize,
    /// Seconds a replica owns its unsettled runs without renewing them (renewed every third
    /// of it); after that another replica, or this one restarted, resumes them.
    pub lease_secs: u64,
}

/// `[state]`: the state store (see [`crate::store`]). Its `Debug` hides the URL's password.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSettings {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST:PORT/DB`.
    pub url: String,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl StateSettings {
    /// The URL without its password (`postgres://user:***@host/db`), for logs and errors.
    pub fn redacted_url(&self) -> String {
        redact_password(&self.url)
    }
}

impl std::fmt::Debug for StateSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSettings")
            .field("url", &self.redacted_url())
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `url` with the password of its userinfo (`scheme://user:PASSWORD@host…`) replaced by
/// `***`; other text unchanged.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// `[export]`: export streaming (seed 003).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportSettings {
    /// Deprecated and ignored (checkpoints live in the state store); still accepted so older
    /// configurations start, with a warning.
    #[serde(default)]
    pub checkpoint_dir: Option<String>,
    /// Data-lake sink: each chunk also written as `<sink_dir>/<job>/<offset>.ndjson.gz`; empty: off.
    pub sink_dir: String,
    /// Seconds between WebSocket pings.
    pub heartbeat_interval_secs: u64,
    /// Seconds without any message from the client (pongs included) before it is dropped.
    pub client_timeout_secs: u64,
}

/// `[audit]`: where audit records go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Append-only JSON-lines audit log.
    pub path: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "string_list")]
        v: Vec<String>,
    }

    #[test]
    fn a_urls_password_is_redacted_and_nothing_else() {
        assert_eq!(
            redact_password("postgres://sb:s3cr@t:x@db.local:5432/sb?sslmode=require"),
            "postgres://sb:***@db.local:5432/sb?sslmode=require"
        );
        assert_eq!(
            redact_password("postgres://sb@db/sb"),
            "postgres://sb@db/sb"
        );
        assert_eq!(
            redact_password("sqlite://data/sb.db"),
            "sqlite://data/sb.db"
        );
        let s = StateSettings {
            url: "postgres://u:hunter2@h/d".into(),
            max_connections: 1,
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn string_list_accepts_a_comma_separated_string_and_a_list() {
        let h: Holder = serde_json::from_str(r#"{"v":"a:1, b:2,"}"#).expect("parse");
        assert_eq!(h.v, vec!["a:1", "b:2"]);
        let h: Holder = serde_json::from_str(r#"{"v":["x"]}"#).expect("parse");
        assert_eq!(h.v, vec!["x"]);
    }
}
