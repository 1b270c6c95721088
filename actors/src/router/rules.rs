//! Routing rules (seed 004): an ordered list of `{pattern, topic, partition, field?}`;
//! the first rule whose regex matches wins. A rule matches the event's payload as the sender
//! wrote it with its insignificant whitespace removed (so spacing does not matter, and strings,
//! escapes and numbers are matched as written), or, when `field` is a JSON pointer, that one
//! value of the payload: a string's decoded text, any other value's text as written.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use arc_swap::ArcSwap;
use regex::Regex;
use serde::Deserialize;
use serde_json::value::RawValue;

/// A rules file: `[[rules]]` tables in order.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// The rules, first match wins.
    pub rules: Vec<RuleConfig>,
}

/// One rule as written in the rules file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Regular expression (Rust `regex` syntax).
    pub pattern: String,
    /// Kafka topic.
    pub topic: String,
    /// Partition index of the topic.
    pub partition: i32,
    /// JSON pointer into the payload (e.g. `/region`); absent: the whole payload.
    #[serde(default)]
    pub field: Option<String>,
}

/// Where a rule sends an event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// Kafka topic.
    pub topic: Arc<str>,
    /// Partition index.
    pub partition: i32,
}

impl Route {
    /// Where events no rule matches go: partition 0 of `routing.dead_letter_topic`, or
    /// `None` when it is empty (they are refused then).
    pub fn dead_letter(topic: &str) -> Option<Route> {
        (!topic.is_empty()).then(|| Route {
            topic: topic.into(),
            partition: 0,
        })
    }
}

/// A rule that cannot be used; `index` counts from 0 in file order.
#[derive(Debug, Clone, derive_more::Display, derive_more::Error)]
#[display("routing rule {index} ({field}): {message}")]
pub struct RuleError {
    /// Position of the rule in the file.
    pub index: usize,
    /// Offending key of the rule.
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Why the rules file could not be loaded ([`RuleSet::load`]); the cause is the source.
#[derive(Debug, derive_more::Display, derive_more::Error)]
pub enum RulesFileError {
    /// The file could not be read.
    #[display("routing.rules_file: cannot read {path}")]
    Read {
        /// The file.
        #[error(not(source))]
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A rule is invalid (or the TOML is).
    #[display("routing.rules_file: {path}")]
    Invalid {
        /// The file.
        #[error(not(source))]
        path: String,
        /// Which rule, which key, what is wrong.
        source: RuleError,
    },
}

#[derive(Debug)]
struct CompiledRule {
    regex: Regex,
    field: Option<String>,
    route: Route,
}

/// The value at a JSON pointer (RFC 6901, e.g. `/customer/region`, `/items/0`) of compact
/// JSON text, as the sender wrote it: a string's decoded text, any other value's own text
/// (numbers are never rewritten through a float). `None` when the pointer leads nowhere.
pub fn pointer_text<'a>(json: &'a str, pointer: &str) -> Option<Cow<'a, str>> {
    let mut raw = json;
    if !pointer.is_empty() {
        for token in pointer.strip_prefix('/')?.split('/') {
            let token = token.replace("~1", "/").replace("~0", "~");
            raw = match raw.as_bytes().first()? {
                b'{' => serde_json::from_str::<HashMap<String, &RawValue>>(raw)
                    .ok()?
                    .remove(&token)?,
                b'[' => *serde_json::from_str::<Vec<&RawValue>>(raw)
                    .ok()?
                    .get(token.parse::<usize>().ok()?)?,
                _ => return None,
            }
            .get();
        }
    }
    if raw.starts_with('"') {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(raw))
    }
}

/// The compiled rules, in order, with their version.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    version: String,
}

/// The version of a rules file's text: the first 12 hex digits of its SHA-256.
pub fn rules_version(text: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// The rules in force, replaced whole by a reload ([`LiveRules::replace`]): a reader sees
/// the old set or the new one, never a mix. Read on every webhook event, lock-free.
#[derive(Debug)]
pub struct LiveRules(ArcSwap<RuleSet>);

impl LiveRules {
    /// `rules` in force.
    pub fn new(rules: RuleSet) -> Self {
        LiveRules(ArcSwap::from_pointee(rules))
    }

    /// The set in force now.
    pub fn current(&self) -> arc_swap::Guard<Arc<RuleSet>> {
        self.0.load()
    }

    /// Puts `rules` in force; answers the set it replaced.
    pub fn replace(&self, rules: RuleSet) -> Arc<RuleSet> {
        self.0.swap(Arc::new(rules))
    }
}

impl RuleSet {
    /// Reads and compiles the rules file at `path`. When it does not exist and `builtin` is
    /// given (the service's built-in rules, for the default path), those are compiled instead
    /// and a line says so.
    ///
    /// Errors: the file cannot be read ([`RulesFileError::Read`]) or a rule is invalid
    /// ([`RulesFileError::Invalid`], naming the rule's index and key).
    pub fn load(path: &str, builtin: Option<&str>) -> Result<Self, RulesFileError> {
        let text = match (std::fs::read_to_string(path), builtin) {
            (Ok(text), _) => Cow::Owned(text),
            (Err(e), Some(builtin)) if e.kind() == std::io::ErrorKind::NotFound => {
                log::info!("component=startup event=builtin_rules reason=\"{path} not found\"");
                Cow::Borrowed(builtin)
            }
            (Err(source), _) => {
                return Err(RulesFileError::Read {
                    path: path.into(),
                    source,
                })
            }
        };
        RuleSet::from_toml(&text).map_err(|source| RulesFileError::Invalid {
            path: path.into(),
            source,
        })
    }

    /// The version of the text the rules were compiled from ([`rules_version`]; rules
    /// compiled from a list, as tests and benches do, that of the list's `Debug` form).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there is none (never, once compiled).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Parses and compiles a TOML rules file.
    ///
    /// Errors: TOML syntax or shape (reported as rule 0, field `rules`), or any [`RuleError`].
    pub fn from_toml(text: &str) -> Result<Self, RuleError> {
        let file: RulesFile = toml::from_str(text).map_err(|e| RuleError {
            index: 0,
            field: "rules",
            message: e.to_string(),
        })?;
        let mut rules = Self::compile(file.rules)?;
        rules.version = rules_version(text);
        Ok(rules)
    }

    /// Compiles rules, refusing an empty list, a bad regex, an empty topic, a negative
    /// partition or a field that is not a JSON pointer.
    pub fn compile(rules: Vec<RuleConfig>) -> Result<Self, RuleError> {
        let version = rules_version(&format!("{rules:?}"));
        if rules.is_empty() {
            return Err(RuleError {
                index: 0,
                field: "rules",
                message: "at least one rule is needed".into(),
            });
        }
        let mut compiled = Vec::with_capacity(rules.len());
        for (index, rule) in rules.into_iter().enumerate() {
            let err = |field, message: String| RuleError {
                index,
                field,
                message,
            };
            let regex = Regex::new(&rule.pattern).map_err(|e| err("pattern", e.to_string()))?;
            if rule.topic.trim().is_empty() {
                return Err(err("topic", "must not be empty".into()));
            }
            if rule.partition < 0 {
                return Err(err("partition", format!("{} is negative", rule.partition)));
            }
            if let Some(f) = &rule.field {
                if !f.starts_with('/') {
                    return Err(err(
                        "field",
                        format!("{f:?} is not a JSON pointer (starts with /)"),
                    ));
                }
            }
            compiled.push(CompiledRule {
                regex,
                field: rule.field,
                route: Route {
                    topic: rule.topic.into(),
                    partition: rule.partition,
                },
            });
        }
        Ok(RuleSet {
            rules: compiled,
            version,
        })
    }

    /// The route of the first matching rule for a payload's compact text (the record value).
    /// A rule with a `field` matches that one value as written ([`pointer_text`]).
    pub fn route(&self, compact: &str) -> Option<&Route> {
        self.rules.iter().find_map(|rule| {
            let matched = match &rule.field {
                None => rule.regex.is_match(compact),
                Some(pointer) => {
                    pointer_text(compact, pointer).is_some_and(|text| rule.regex.is_match(&text))
                }
            };
            matched.then_some(&rule.route)
        })
    }

    /// Every topic the rules name, with the partitions they use.
    pub fn targets(&self) -> BTreeMap<Arc<str>, BTreeSet<i32>> {
        let mut out: BTreeMap<Arc<str>, BTreeSet<i32>> = BTreeMap::new();
        for rule in &self.rules {
            out.entry(rule.route.topic.clone())
                .or_default()
                .insert(rule.route.partition);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_RULES: &str = r#"
[[rules]]
pattern = '"priority"\s*:\s*"high"'
topic = "cxone.data.actions.high"
partition = 0
[[rules]]
pattern = '"region"\s*:\s*"eu-west"'
topic = "cxone.data.actions.eu"
partition = 1
[[rules]]
pattern = '.*'
topic = "cxone.data.actions.default"
partition = 2
"#;

    #[test]
    fn a_rules_file_is_loaded_or_the_builtin_rules_stand_in_only_when_it_is_missing() {
        let dir = std::env::temp_dir().join(format!("sb-rules-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("routes.toml");
        std::fs::write(&file, SEED_RULES).expect("write");
        let path = file.display().to_string();
        let rules = RuleSet::load(&path, None).expect("loaded");
        assert_eq!(route_of(&rules, r#"{"region":"eu-west"}"#).1, 1);

        let missing = dir.join("missing.toml").display().to_string();
        let builtin = "[[rules]]\npattern = '.*'\ntopic = \"builtin\"\npartition = 0\n";
        let rules = RuleSet::load(&missing, Some(builtin)).expect("builtin");
        assert_eq!(route_of(&rules, "{}").0, "builtin");
        let e = RuleSet::load(&missing, None).expect_err("missing");
        assert!(matches!(e, RulesFileError::Read { .. }));
        assert_eq!(
            e.to_string(),
            format!("routing.rules_file: cannot read {missing}")
        );
        assert!(std::error::Error::source(&e).is_some(), "the io error");

        std::fs::write(
            &file,
            "[[rules]]\npattern = '('\ntopic = 't'\npartition = 0\n",
        )
        .expect("write");
        let e = RuleSet::load(&path, Some(builtin)).expect_err("a broken file is not replaced");
        let RulesFileError::Invalid { source, .. } = &e else {
            panic!("expected Invalid, got {e:?}");
        };
        assert_eq!((source.index, source.field), (0, "pattern"));
        std::fs::remove_dir_all(&dir).ok();
    }

    fn route_of(rules: &RuleSet, payload: &str) -> (String, i32) {
        let v: serde_json::Value = serde_json::from_str(payload).expect("json");
        let compact = serde_json::to_string(&v).expect("json");
        let r = rules.route(&compact).expect("a route");
        (r.topic.to_string(), r.partition)
    }

    #[test]
    fn the_first_matching_rule_wins_whatever_the_senders_spacing() {
        let rules = RuleSet::from_toml(SEED_RULES).expect("rules");
        assert_eq!(
            route_of(&rules, r#"{"region": "eu-west",   "priority"  :   "high"}"#),
            ("cxone.data.actions.high".into(), 0)
        );
        assert_eq!(
            route_of(&rules, r#"{ "region" : "eu-west" }"#),
            ("cxone.data.actions.eu".into(), 1)
        );
        assert_eq!(
            route_of(&rules, r#"{"priority":"low"}"#),
            ("cxone.data.actions.default".into(), 2)
        );
    }

    #[test]
    fn a_field_rule_matches_only_that_value() {
        let rules = RuleSet::compile(vec![
            RuleConfig {
                pattern: "^eu-".into(),
                topic: "eu".into(),
                partition: 0,
                field: Some("/region".into()),
            },
            RuleConfig {
                pattern: "^eu-".into(),
                topic: "other".into(),
                partition: 0,
                field: None,
            },
        ])
        .expect("rules");
        assert_eq!(route_of(&rules, r#"{"region":"eu-west"}"#).0, "eu");
        assert_eq!(rules.route(r#"{"x":"eu-west"}"#), None);
    }

    #[test]
    fn a_pointer_reads_values_as_written() {
        let json = r#"{"n":123456789012345678901234567890,"f":1.50,"a/b":{"c~d":["x","\u00e9"]},"o":{"k":[1, 2]}}"#;
        assert_eq!(
            pointer_text(json, "/n").as_deref(),
            Some("123456789012345678901234567890")
        );
        assert_eq!(pointer_text(json, "/f").as_deref(), Some("1.50"));
        assert_eq!(pointer_text(json, "/a~1b/c~0d/1").as_deref(), Some("é"));
        assert_eq!(pointer_text(json, "/o").as_deref(), Some(r#"{"k":[1, 2]}"#));
        assert_eq!(pointer_text(json, "").as_deref(), Some(json));
        for nowhere in ["/missing", "/n/0", "/a~1b/c~0d/9", "/o/k/x", "n"] {
            assert_eq!(pointer_text(json, nowhere), None, "{nowhere}");
        }
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule_and_key() {
        let bad = |rule: RuleConfig| RuleSet::compile(vec![rule]).expect_err("refused");
        let base = RuleConfig {
            pattern: ".*".into(),
            topic: "t".into(),
            partition: 0,
            field: None,
        };
        let e = bad(RuleConfig {
            pattern: "(".into(),
            ..base.clone()
        });
        assert_eq!((e.index, e.field), (0, "pattern"));
        assert_eq!(
            bad(RuleConfig {
                topic: " ".into(),
                ..base.clone()
            })
            .field,
            "topic"
        );
        assert_eq!(
            bad(RuleConfig {
                partition: -1,
                ..base.clone()
            })
            .field,
            "partition"
        );
        assert_eq!(
            bad(RuleConfig {
                field: Some("region".into()),
                ..base
            })
            .field,
            "field"
        );
        assert_eq!(
            RuleSet::compile(vec![]).expect_err("refused").field,
            "rules"
        );
    }

    #[test]
    fn targets_group_partitions_by_topic() {
        let rules = RuleSet::from_toml(SEED_RULES).expect("rules");
        let t = rules.targets();
        assert_eq!(t.len(), 3);
        assert!(t[&Arc::<str>::from("cxone.data.actions.eu")].contains(&1));
    }
}
