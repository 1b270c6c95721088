//! Rules reload (SIGHUP): `routing.rules_file` is read and compiled again, the broker is
//! readied for it (missing topics created when `kafka.create_topics`, partitions checked,
//! a client opened for each new route), and only then does it replace the rules in force,
//! whole ([`LiveRules::replace`]); events already matched keep their route. A file that does
//! not read, compile or fit the broker changes nothing: the old rules stay, and a line says
//! why. `/metrics` shows the version in force (`switchboard_rules_info{version}`) and the
//! reloads by outcome (`switchboard_rules_reloads_total{outcome}`).

use std::sync::Arc;

use switchboard_actors::metrics::METRICS;
use switchboard_actors::router::{LiveRules, Route};
use switchboard_actors::KafkaConnection;

use crate::config::Settings;

/// What a reload needs (one per service; cheap to clone).
#[derive(Clone)]
pub struct RulesReload {
    settings: Arc<Settings>,
    rules: Arc<LiveRules>,
    kafka: Arc<KafkaConnection>,
    dead_letter: Option<Route>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The new rules are in force.
    Applied {
        /// Their version.
        version: String,
        /// The version they replaced.
        previous: String,
        /// How many rules.
        rules: usize,
        /// Topics created for them.
        created: Vec<String>,
    },
    /// The file has the version in force: nothing to do.
    Unchanged {
        /// The version in force.
        version: String,
    },
}

impl RulesReload {
    /// A reload of `settings.routing.rules_file` into `rules`, readying `kafka` for the new
    /// routes (and `dead_letter`'s).
    pub fn new(
        settings: Arc<Settings>,
        rules: Arc<LiveRules>,
        kafka: Arc<KafkaConnection>,
        dead_letter: Option<Route>,
    ) -> Self {
        RulesReload {
            settings,
            rules,
            kafka,
            dead_letter,
        }
    }

    /// Reads, compiles and readies the rules file, then puts it in force.
    ///
    /// Errors: the file cannot be read or a rule is invalid (naming the rule and key), or
    /// the broker lacks a partition, a topic cannot be created or the broker does not
    /// answer (naming the topic, partition or brokers). The rules in force are unchanged.
    pub async fn run(&self) -> anyhow::Result<Reloaded> {
        let rules = self.settings.rules()?;
        let in_force = self.rules.current().version().to_string();
        if rules.version() == in_force {
            return Ok(Reloaded::Unchanged { version: in_force });
        }
        let created = self
            .kafka
            .prepare(&rules, self.dead_letter.as_ref())
            .await?;
        let (version, count) = (rules.version().to_string(), rules.len());
        let previous = self.rules.replace(rules);
        METRICS.rules_in_force(&version);
        Ok(Reloaded::Applied {
            version,
            previous: previous.version().to_string(),
            rules: count,
            created,
        })
    }

    /// [`RulesReload::run`], its outcome logged and counted.
    pub async fn run_logged(&self) {
        let path = &self.settings.routing.rules_file;
        let outcome = match self.run().await {
            Ok(Reloaded::Applied {
                version,
                previous,
                rules,
                created,
            }) => {
                log::info!(
                    "component=rules event=reloaded path={path} version={version} previous={previous} rules={rules} topics_created={}",
                    created.len()
                );
                "applied"
            }
            Ok(Reloaded::Unchanged { version }) => {
                log::info!("component=rules event=reload_unchanged path={path} version={version}");
                "unchanged"
            }
            Err(e) => {
                log::error!(
                    "component=rules event=reload_failed path={path} version={} error=\"{e:#}\" reason=\"the rules in force are kept\"",
                    self.rules.current().version()
                );
                "failed"
            }
        };
        METRICS.rules_reloads.with_label_values(&[outcome]).inc();
    }
}
