//! Configuration: typed settings per subsystem, loaded in layers (later wins):
//! the compiled-in `config/default.toml` → `--config FILE` → the tutorials' `CXONE_BASE_URL`,
//! `CXONE_CLIENT_ID`, `CXONE_CLIENT_SECRET` → `SWITCHBOARD__<SECTION>__<KEY>` variables
//! (lists comma-separated). Validated at start-up; every error names its key.

use std::path::Path;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::Deserialize;
use switchboard_actors::deltas::batch::API_MAX_BATCH;
use switchboard_actors::router::{RuleSet, RulesFileError};
use switchboard_actors::settings::{
    AuditSettings, CxoneSettings, DefinitionSettings, DeltaSettings, ExportSettings, GrantType,
    KafkaSettings, OrchestrationSettings, RoutingSettings, StateSettings,
};
use switchboard_actors::store::StoreUrl;
use switchboard_sandbox::SandboxOptions;

/// The compiled-in defaults, every key commented.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.toml");
/// The compiled-in default routing rules (seed 004), used when the default rules file is absent.
pub const DEFAULT_ROUTES: &str = include_str!("../config/routes.toml");
/// The largest `routing.max_depth` accepted.
pub const MAX_EVENT_DEPTH: usize = 1024;
/// The default value of `routing.rules_file`.
pub const DEFAULT_ROUTES_PATH: &str = "config/routes.toml";

/// Keys whose environment values are free text (ids, secrets, URLs), with the variables that
/// set them, weakest first: the tutorials' `CXONE_*`, then `SWITCHBOARD__…`. A list among
/// them (`routing.signing_secrets`) is one comma-separated string, split by its
/// deserializer; each entry is taken verbatim but for surrounding spaces (`=`, `+`, `/`
/// survive; a comma cannot be part of an entry).
const TEXT_KEYS: [(&str, &[&str]); 10] = [
    (
        "kafka.sasl.username",
        &["SWITCHBOARD__KAFKA__SASL__USERNAME"],
    ),
    (
        "kafka.sasl.password",
        &["SWITCHBOARD__KAFKA__SASL__PASSWORD"],
    ),
    (
        "cxone.base_url",
        &["CXONE_BASE_URL", "SWITCHBOARD__CXONE__BASE_URL"],
    ),
    (
        "cxone.client_id",
        &["CXONE_CLIENT_ID", "SWITCHBOARD__CXONE__CLIENT_ID"],
    ),
    (
        "cxone.client_secret",
        &["CXONE_CLIENT_SECRET", "SWITCHBOARD__CXONE__CLIENT_SECRET"],
    ),
    (
        "cxone.access_key_id",
        &["SWITCHBOARD__CXONE__ACCESS_KEY_ID"],
    ),
    (
        "cxone.access_key_secret",
        &["SWITCHBOARD__CXONE__ACCESS_KEY_SECRET"],
    ),
    (
        "routing.signing_secret",
        &["SWITCHBOARD__ROUTING__SIGNING_SECRET"],
    ),
    (
        "routing.signing_secrets",
        &["SWITCHBOARD__ROUTING__SIGNING_SECRETS"],
    ),
    ("state.url", &["SWITCHBOARD__STATE__URL"]),
];

/// Whether an environment variable sets one of the [`TEXT_KEYS`].
fn is_text_variable(name: &str) -> bool {
    TEXT_KEYS
        .iter()
        .any(|(_, vars)| vars.iter().any(|v| v.eq_ignore_ascii_case(name)))
}

/// A configuration problem, naming the key.
#[derive(Debug, derive_more::Display, derive_more::Error)]
pub enum ConfigError {
    /// The layers could not be read or do not fit the settings' types: figment's error,
    /// kept whole (its kind, the key's path and the layer it came from), shown as figment
    /// shows it.
    #[display("{_0}")]
    Load(#[error(not(source))] Box<figment::Error>),
    /// `--config FILE` does not exist.
    #[display("config file {_0} does not exist")]
    MissingFile(#[error(not(source))] String),
    /// A value is out of range; `key` is the dotted key.
    #[display("{key}: {message}")]
    Invalid {
        /// Dotted key, e.g. `kafka.brokers`.
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// All settings of the service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `[server]`.
    pub server: ServerSettings,
    /// `[sandbox]`.
    pub sandbox: SandboxSettings,
    /// `[kafka]`.
    pub kafka: KafkaSettings,
    /// `[routing]`.
    pub routing: RoutingSettings,
    /// `[cxone]`.
    pub cxone: CxoneSettings,
    /// `[definitions]`.
    pub definitions: DefinitionSettings,
    /// `[audit]`.
    pub audit: AuditSettings,
    /// `[state]`.
    pub state: StateSettings,
    /// `[export]`.
    pub export: ExportSettings,
    /// `[orchestration]`.
    pub orchestration: OrchestrationSettings,
    /// `[deltas]`.
    pub deltas: DeltaSettings,
    /// `[log]`.
    #[serde(default)]
    pub log: LogSettings,
}

/// `[log]`: how the process writes its log lines (to stderr; the filter is `RUST_LOG`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` or `json` (env `SWITCHBOARD__LOG__FORMAT`).
    pub format: crate::logging::LogFormat,
}

/// `[server]`: the service's HTTP API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Listen address `host:port`.
    pub bind: String,
    /// Largest accepted request body in bytes (413 above).
    pub max_body_bytes: usize,
    /// HTTP worker threads; 0 = one per core.
    pub workers: usize,
    /// Seconds a graceful stop (SIGTERM, SIGINT) keeps accepting and serving after
    /// `/readyz` turned 503, every response carrying `Connection: close`, so a load balancer
    /// takes the service out of rotation before the listener closes. A second signal cuts
    /// it short.
    pub shutdown_timeout_secs: u64,
    /// Longest wait, in seconds, for each step of a graceful stop after the listener closed:
    /// requests in flight, the router's queue, the acknowledgement queue, and export streams
    /// with their last checkpoint writes. What is left is logged with its count.
    pub drain_timeout_secs: u64,
}

/// `[sandbox]`: the embedded CXone emulator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// Listen address `host:port`.
    pub bind: String,
    /// Lifetime (s) of issued tokens.
    pub token_ttl_secs: u64,
    /// Per-tenant token bucket capacity, refilled over a minute.
    pub rate_limit_per_minute: u32,
}

impl SandboxSettings {
    /// The options of a sandbox that accepts `cxone`'s client credentials, so the service's
    /// defaults work against it.
    pub fn options(&self, cxone: &CxoneSettings) -> SandboxOptions {
        SandboxOptions {
            bind: self.bind.clone(),
            client_id: cxone.client_id.clone(),
            client_secret: cxone.client_secret.clone(),
            token_ttl_secs: self.token_ttl_secs,
            rate_limit_per_minute: self.rate_limit_per_minute,
        }
    }
}

impl Settings {
    /// The routing rules: `routing.rules_file`, or the built-in rules ([`DEFAULT_ROUTES`])
    /// when the file is the default one and absent.
    ///
    /// Errors: the file cannot be read, or a rule is invalid (named by index and key).
    pub fn rules(&self) -> Result<RuleSet, RulesFileError> {
        let path = &self.routing.rules_file;
        RuleSet::load(
            path,
            (path == DEFAULT_ROUTES_PATH).then_some(DEFAULT_ROUTES),
        )
    }

    /// The completion webhook URL registered with CXone: `orchestration.callback_url`, or
    /// `http://<server.bind's host>:<port>/cxone/webhook` (`port`: the bound one).
    pub fn callback_url(&self, port: u16) -> String {
        if !self.orchestration.callback_url.is_empty() {
            return self.orchestration.callback_url.clone();
        }
        let host = self
            .server
            .bind
            .rsplit_once(':')
            .map_or("127.0.0.1", |(h, _)| h);
        format!("http://{host}:{port}/cxone/webhook")
    }

    /// Loads the layers (defaults → `file` → environment) and validates the result; the log
    /// lines written from then on follow its `log.format`.
    ///
    /// Errors: [`ConfigError`] naming the offending key or file.
    pub fn load(file: Option<&Path>) -> Result<Settings, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULT_CONFIG));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(ConfigError::MissingFile(path.display().to_string()));
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment.merge(
            Env::prefixed("SWITCHBOARD__")
                .filter(|key| !is_text_variable(&format!("SWITCHBOARD__{key}")))
                .split("__"),
        );
        // Free-text keys are taken verbatim: figment would read `007` as 7 and `true` as a bool.
        for (key, vars) in TEXT_KEYS {
            if let Some(value) = vars.iter().rev().find_map(|v| std::env::var(v).ok()) {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        let settings: Settings = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        settings.validate()?;
        crate::logging::set_format(settings.log.format);
        Ok(settings)
    }

    /// Checks ranges and relations between keys.
    ///
    /// Errors: the first [`ConfigError::Invalid`] found, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        fn invalid(key: &'static str, message: impl Into<String>) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                message: message.into(),
            })
        }
        fn check_url(key: &'static str, url: &str) -> Result<(), ConfigError> {
            if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
                return invalid(key, format!("{url:?} is not an http(s) URL"));
            }
            Ok(())
        }
        check_address("server.bind", &self.server.bind)?;
        check_address("sandbox.bind", &self.sandbox.bind)?;
        if self.server.max_body_bytes == 0 {
            return invalid("server.max_body_bytes", "must be at least 1");
        }
        let k = &self.kafka;
        if k.brokers.is_empty() {
            return invalid("kafka.brokers", "must name at least one broker");
        }
        for broker in &k.brokers {
            check_address("kafka.brokers", broker)?;
        }
        // `(key, value)` of a numeric setting, the key spelled from its path:
        // `setting!(self, kafka.queue_capacity)` is `("kafka.queue_capacity", …)`.
        macro_rules! setting {
            ($settings:expr, $section:ident . $field:ident) => {
                (
                    concat!(stringify!($section), ".", stringify!($field)),
                    $settings.$section.$field as i64,
                )
            };
        }
        for (key, value) in [
            setting!(self, kafka.topic_partitions),
            setting!(self, kafka.replication_factor),
            setting!(self, kafka.produce_timeout_ms),
            setting!(self, kafka.connect_timeout_ms),
            setting!(self, kafka.max_batch_bytes),
            setting!(self, kafka.max_batch_records),
            setting!(self, kafka.max_in_flight),
            setting!(self, kafka.queue_capacity),
            setting!(self, routing.dedupe_window_secs),
            setting!(self, routing.dedupe_capacity),
            setting!(self, routing.ack_queue_capacity),
            setting!(self, routing.ack_concurrency),
            setting!(self, routing.max_depth),
            setting!(self, routing.max_field_bytes),
            setting!(self, cxone.requests_per_minute),
            setting!(self, cxone.burst),
            setting!(self, cxone.request_timeout_ms),
            setting!(self, orchestration.poll_interval_ms),
            setting!(self, orchestration.execution_timeout_secs),
            setting!(self, sandbox.rate_limit_per_minute),
            setting!(self, sandbox.token_ttl_secs),
            setting!(self, deltas.replication_attempts),
            setting!(self, orchestration.max_sub_flows),
            setting!(self, orchestration.max_plan_bytes),
            setting!(self, orchestration.keep_finished_runs),
            setting!(self, export.heartbeat_interval_secs),
            setting!(self, export.client_timeout_secs),
        ] {
            if value < 1 {
                return invalid(key, "must be at least 1");
            }
        }
        if !(1..=API_MAX_BATCH).contains(&self.deltas.max_batch_size) {
            return invalid(
                "deltas.max_batch_size",
                format!("must be within 1..={API_MAX_BATCH} (the API's maximum)"),
            );
        }
        if self.routing.max_depth > MAX_EVENT_DEPTH {
            return invalid(
                "routing.max_depth",
                format!("must be within 1..={MAX_EVENT_DEPTH}"),
            );
        }
        // Every signing secret must give a key; the message names the key, never the secret.
        if let Err(e) = crate::signature::StandardWebhooks::from_settings(&self.routing) {
            return invalid(e.key, e.error.to_string());
        }
        if !(1..=20).contains(&self.cxone.max_attempts) {
            return invalid("cxone.max_attempts", "must be within 1..=20");
        }
        check_url("cxone.base_url", &self.cxone.base_url)?;
        check_url(
            "orchestration.callback_url",
            &self.orchestration.callback_url,
        )?;
        check_url("definitions.callback_url", &self.definitions.callback_url)?;
        check_url(
            "deltas.replication_webhook_url",
            &self.deltas.replication_webhook_url,
        )?;
        if self.cxone.client_id.is_empty() {
            return invalid("cxone.client_id", "must not be empty");
        }
        if StoreUrl::parse(&self.state.url).is_err() {
            return invalid(
                "state.url",
                "must be sqlite://PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB",
            );
        }
        if self.state.max_connections == 0 {
            return invalid("state.max_connections", "must be at least 1");
        }
        if self.cxone.grant_type == GrantType::Password
            && (self.cxone.access_key_id.is_empty() || self.cxone.access_key_secret.is_empty())
        {
            return invalid(
                "cxone.access_key_id",
                "the password grant needs cxone.access_key_id and cxone.access_key_secret",
            );
        }
        Ok(())
    }
}

/// Checks a `host:port` address (host may be a name).
fn check_address(key: &'static str, value: &str) -> Result<(), ConfigError> {
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
        _ => Err(ConfigError::Invalid {
            key,
            message: format!("{value:?} is not a host:port address"),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    fn defaults() -> Settings {
        Figment::from(Toml::string(DEFAULT_CONFIG))
            .extract()
            .expect("defaults parse")
    }

    #[test]
    fn the_compiled_in_defaults_parse_and_validate() {
        let s = defaults();
        s.validate().expect("valid");
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(s.kafka.brokers, vec!["127.0.0.1:9092"]);
        assert_eq!(s.kafka.produce_timeout_ms, 5000);
        assert_eq!(s.cxone.max_attempts, 6);
        assert_eq!(s.routing.dedupe_capacity, 200_000);
        assert_eq!(s.routing.ack_queue_capacity, 100_000);
        assert_eq!(s.orchestration.poll_after_ms, 5000);
    }

    #[test]
    fn validation_names_the_offending_key() {
        let mut s = defaults();
        s.kafka.brokers.clear();
        let err = s.validate().expect_err("invalid").to_string();
        assert!(err.starts_with("kafka.brokers:"), "{err}");

        let mut s = defaults();
        s.cxone.max_attempts = 0;
        assert!(s
            .validate()
            .expect_err("invalid")
            .to_string()
            .starts_with("cxone.max_attempts"));

        let mut s = defaults();
        s.server.bind = "nonsense".into();
        assert!(s
            .validate()
            .expect_err("invalid")
            .to_string()
            .starts_with("server.bind"));
    }

    #[test]
    fn the_callback_url_is_the_configured_one_or_derived_from_the_bound_port() {
        let mut s = defaults();
        s.server.bind = "10.0.0.5:8080".into();
        assert_eq!(s.callback_url(41234), "http://10.0.0.5:41234/cxone/webhook");
        s.orchestration.callback_url = "https://hooks.example/cb".into();
        assert_eq!(s.callback_url(41234), "https://hooks.example/cb");
    }

    #[test]
    fn the_default_rules_file_falls_back_to_the_builtin_rules_and_another_does_not() {
        figment::Jail::expect_with(|jail| {
            // The jail's directory has no config/routes.toml.
            let mut s = defaults();
            assert_eq!(s.routing.rules_file, DEFAULT_ROUTES_PATH);
            let builtin = s.rules().expect("built-in rules");
            assert!(builtin.route(r#"{"priority":"high"}"#).is_some());
            s.routing.rules_file = "elsewhere.toml".into();
            let e = s
                .rules()
                .expect_err("a missing file that is not the default");
            assert_eq!(
                e.to_string(),
                "routing.rules_file: cannot read elsewhere.toml"
            );
            jail.create_file(
                "elsewhere.toml",
                "[[rules]]\npattern = '.*'\ntopic = 'x'\npartition = 0\n",
            )?;
            assert!(s.rules().is_ok());
            Ok(())
        });
    }

    #[test]
    fn an_unknown_key_is_refused_with_its_name() {
        let err = Figment::from(Toml::string(DEFAULT_CONFIG))
            .merge(Toml::string("[kafka]\nbrokerz = [\"x:1\"]"))
            .extract::<Settings>()
            .expect_err("unknown key")
            .to_string();
        assert!(err.contains("brokerz"), "{err}");
    }

    #[test]
    fn layers_apply_in_order_file_then_tutorial_variables_then_switchboard_variables() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "over.toml",
                "[kafka]\nbrokers = [\"file:1\"]\ntopic_partitions = 5\n[cxone]\nclient_id = \"from-file\"\n",
            )?;
            jail.set_env("CXONE_BASE_URL", "https://tenant.example");
            jail.set_env("CXONE_CLIENT_ID", "from-cxone-env");
            jail.set_env("SWITCHBOARD__KAFKA__BROKERS", "a:9092, b:9093");
            jail.set_env("SWITCHBOARD__ROUTING__DEDUPE_CAPACITY", "42");
            let s = Settings::load(Some(Path::new("over.toml"))).expect("loads");
            assert_eq!(s.kafka.brokers, vec!["a:9092", "b:9093"]);
            assert_eq!(s.kafka.topic_partitions, 5);
            assert_eq!(s.cxone.base_url, "https://tenant.example");
            assert_eq!(s.cxone.client_id, "from-cxone-env");
            assert_eq!(s.routing.dedupe_capacity, 42);
            jail.set_env("CXONE_CLIENT_SECRET", "007");
            jail.set_env("SWITCHBOARD__CXONE__ACCESS_KEY_ID", "true");
            let s = Settings::load(None).expect("numeric-looking strings stay strings");
            assert_eq!(s.cxone.client_secret, "007");
            assert_eq!(s.cxone.access_key_id, "true");
            jail.set_env("SWITCHBOARD__CXONE__CLIENT_ID", "from-switchboard-env");
            let s = Settings::load(None).expect("loads");
            assert_eq!(s.cxone.client_id, "from-switchboard-env");
            Ok(())
        });
    }

    #[test]
    fn a_bad_environment_value_is_refused_naming_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SWITCHBOARD__KAFKA__PRODUCE_TIMEOUT_MS", "soon");
            let err = Settings::load(None).expect_err("refused").to_string();
            assert!(
                err.to_lowercase().contains("kafka.produce_timeout_ms"),
                "{err}"
            );
            jail.set_env("SWITCHBOARD__KAFKA__PRODUCE_TIMEOUT_MS", "0");
            let err = Settings::load(None).expect_err("refused").to_string();
            assert!(err.starts_with("kafka.produce_timeout_ms"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn signing_secrets_from_the_environment_are_a_verbatim_comma_separated_list() {
        // Base64 with `+`, `/` and `=` padding, which figment would otherwise try to parse.
        let first = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let second = "whsec_+/+/dGVzdP4=";
        figment::Jail::expect_with(|jail| {
            jail.set_env(
                "SWITCHBOARD__ROUTING__SIGNING_SECRETS",
                format!("{first}, {second}"),
            );
            jail.set_env("SWITCHBOARD__ROUTING__SIGNING_SECRET", "007");
            let s = Settings::load(None).expect("loads");
            assert_eq!(s.routing.signing_secrets, vec![first, second]);
            assert_eq!(s.routing.signing_secret, "007");
            jail.set_env("SWITCHBOARD__ROUTING__SIGNING_SECRETS", "12345");
            let s = Settings::load(None).expect("a number-like secret stays text");
            assert_eq!(s.routing.signing_secrets, vec!["12345"]);
            Ok(())
        });
    }

    #[test]
    fn a_malformed_whsec_secret_stops_start_up_naming_the_key_not_the_secret() {
        let mut s = defaults();
        s.routing.signing_secret = "whsec_s3cr3t!!".into();
        let err = s.validate().expect_err("refused").to_string();
        assert!(err.starts_with("routing.signing_secret:"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");

        let mut s = defaults();
        s.routing.signing_secret = "raw secrets are bytes".into();
        s.routing.signing_secrets = vec!["whsec_QUJD".into(), "whsec_s3cr3t!!".into()];
        let err = s.validate().expect_err("refused").to_string();
        assert!(err.starts_with("routing.signing_secrets:"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");

        s.routing.signing_secrets.pop();
        s.validate().expect("valid secrets");
    }

    #[test]
    fn routing_settings_debug_shows_no_secret() {
        let mut s = defaults();
        s.routing.signing_secret = "whsec_QUJDREVG".into();
        s.routing.signing_secrets = vec!["hunter2".into()];
        let text = format!("{s:?}");
        assert!(!text.contains("QUJDREVG"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("signing_secrets"), "{text}");
    }

    #[test]
    fn a_missing_config_file_is_named() {
        let err = Settings::load(Some(Path::new("/nonexistent/sb.toml"))).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/sb.toml"));
    }
}
