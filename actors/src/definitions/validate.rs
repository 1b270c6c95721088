//! Definition validation (seed 002): every problem at once, each naming its field as a
//! dotted path (`name`, `configuration.url`, `configuration.timeout`).
//!
//! Shape: `{"name", "description"?, "type", "configuration", "enabled"?, "tags"?}`; for
//! `type` `REST` the configuration is `{"method", "url", "timeout"?, "headers"?}`.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::problem::FieldProblem;

/// Definition types the service knows.
pub const KNOWN_TYPES: [&str; 3] = ["REST", "SOAP", "SCRIPT"];
/// Methods a REST definition may use.
pub const REST_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;
/// REST timeout range, milliseconds.
pub const TIMEOUT_MS: std::ops::RangeInclusive<u64> = 1..=60_000;
/// Most tags.
pub const MAX_TAGS: usize = 50;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Top-level fields of a definition.
pub const FIELDS: [&str; 6] = [
    "name",
    "description",
    "type",
    "configuration",
    "enabled",
    "tags",
];

/// Validates a definition. `allow_http` admits `http://` URLs (off by default).
///
/// Errors: every problem found.
pub fn validate(def: &Value, allow_http: bool) -> Result<(), Vec<FieldProblem>> {
    let Some(obj) = def.as_object() else {
        return Err(vec![FieldProblem::new(
            "",
            "the definition must be a JSON object",
        )]);
    };
    let mut p = Vec::new();
    for key in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        p.push(FieldProblem::new(key.clone(), "is not a known field"));
    }
    check_name(obj.get("name"), &mut p);
    match obj.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s.chars().count() <= MAX_DESCRIPTION_CHARS => {}
        Some(Value::String(_)) => p.push(FieldProblem::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        )),
        Some(_) => p.push(FieldProblem::new("description", "must be a string")),
    }
    let kind = match obj.get("type") {
        None | Some(Value::Null) => {
            p.push(FieldProblem::new("type", "is required"));
            None
        }
        Some(Value::String(t)) if KNOWN_TYPES.contains(&t.as_str()) => Some(t.as_str()),
        Some(Value::String(t)) => {
            p.push(FieldProblem::new(
                "type",
                format!("{t:?} is not one of {}", KNOWN_TYPES.join(", ")),
            ));
            None
        }
        Some(_) => {
            p.push(FieldProblem::new("type", "must be a string"));
            None
        }
    };
    match obj.get("configuration") {
        None | Some(Value::Null) => p.push(FieldProblem::new("configuration", "is required")),
        Some(Value::Object(cfg)) => {
            if kind == Some("REST") {
                check_rest(cfg, allow_http, &mut p);
            }
        }
        Some(_) => p.push(FieldProblem::new("configuration", "must be an object")),
    }
    if !matches!(
        obj.get("enabled"),
        None | Some(Value::Null) | Some(Value::Bool(_))
    ) {
        p.push(FieldProblem::new("enabled", "must be true or false"));
    }
    check_tags(obj.get("tags"), &mut p);
    if p.is_empty() {
        Ok(())
    } else {
        Err(p)
    }
}

fn check_name(name: Option<&Value>, p: &mut Vec<FieldProblem>) {
    match name {
        None | Some(Value::Null) => p.push(FieldProblem::new("name", "is required")),
        Some(Value::String(n)) => {
            let chars = n.chars().count();
            if chars == 0 || n.trim().is_empty() {
                p.push(FieldProblem::new("name", "must not be empty"));
            } else if chars > MAX_NAME_CHARS {
                p.push(FieldProblem::new(
                    "name",
                    format!("must be at most {MAX_NAME_CHARS} characters (has {chars})"),
                ));
            } else if let Some(c) = n
                .chars()
                .find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ')))
            {
                p.push(FieldProblem::new(
                    "name",
                    format!("may hold letters, digits, '_', '-', '.' and spaces, not {c:?}"),
                ));
            }
        }
        Some(_) => p.push(FieldProblem::new("name", "must be a string")),
    }
}

fn check_rest(cfg: &Map<String, Value>, allow_http: bool, p: &mut Vec<FieldProblem>) {
    match cfg.get("method") {
        Some(Value::String(m)) if REST_METHODS.contains(&m.as_str()) => {}
        None | Some(Value::Null) => {
            p.push(FieldProblem::new("configuration.method", "is required"))
        }
        Some(_) => p.push(FieldProblem::new(
            "configuration.method",
            format!("must be one of {}", REST_METHODS.join(", ")),
        )),
    }
    match cfg.get("url") {
        None | Some(Value::Null) => p.push(FieldProblem::new("configuration.url", "is required")),
        Some(Value::String(u)) => {
            if let Err(message) = check_url(u, allow_http) {
                p.push(FieldProblem::new("configuration.url", message));
            }
        }
        Some(_) => p.push(FieldProblem::new("configuration.url", "must be a string")),
    }
    match cfg.get("timeout") {
        None | Some(Value::Null) => {}
        Some(Value::Number(n)) if n.as_u64().is_some_and(|t| TIMEOUT_MS.contains(&t)) => {}
        Some(_) => p.push(FieldProblem::new(
            "configuration.timeout",
            "must be a whole number of milliseconds within 1..=60000",
        )),
    }
    match cfg.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(h)) => {
            for (name, value) in h {
                if !value.is_string() {
                    p.push(FieldProblem::new(
                        format!("configuration.headers.{name}"),
                        "must be a string",
                    ));
                }
            }
        }
        Some(_) => p.push(FieldProblem::new(
            "configuration.headers",
            "must be an object of string values",
        )),
    }
}

fn check_url(u: &str, allow_http: bool) -> Result<(), String> {
    let url = url::Url::parse(u).map_err(|e| format!("{u:?} is not an absolute URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err("must use https (http needs definitions.allow_http)".into()),
        other => return Err(format!("scheme {other:?} is not https")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{u:?} has no host"));
    }
    Ok(())
}

fn check_tags(tags: Option<&Value>, p: &mut Vec<FieldProblem>) {
    match tags {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            if list.len() > MAX_TAGS {
                p.push(FieldProblem::new(
                    "tags",
                    format!("at most {MAX_TAGS} tags"),
                ));
            }
            let mut seen = HashSet::new();
            for (i, tag) in list.iter().enumerate() {
                match tag.as_str() {
                    Some(t) if t.is_empty() || t.chars().count() > MAX_TAG_CHARS => {
                        p.push(FieldProblem::new(
                            format!("tags[{i}]"),
                            format!("must be 1..={MAX_TAG_CHARS} characters"),
                        ))
                    }
                    Some(t) if !seen.insert(t) => p.push(FieldProblem::new(
                        format!("tags[{i}]"),
                        format!("{t:?} is a duplicate"),
                    )),
                    Some(_) => {}
                    None => p.push(FieldProblem::new(format!("tags[{i}]"), "must be a string")),
                }
            }
        }
        Some(_) => p.push(FieldProblem::new("tags", "must be a list of strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "name": "Inventory lookup v2.1",
            "description": "Checks stock",
            "type": "REST",
            "configuration": {
                "method": "GET",
                "url": "https://inventory.example.com/api/v2/stock",
                "timeout": 3000,
                "headers": {"X-Api": "1"}
            },
            "enabled": true,
            "tags": ["inventory", "stock"]
        })
    }

    fn fields(def: Value, allow_http: bool) -> Vec<String> {
        validate(&def, allow_http)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    #[test]
    fn the_seed_definition_is_valid() {
        assert_eq!(validate(&valid(), false), Ok(()));
    }

    #[test]
    fn required_fields_are_reported_together() {
        assert_eq!(
            fields(json!({}), false),
            vec!["name", "type", "configuration"]
        );
    }

    #[test]
    fn every_rest_problem_names_its_dotted_field() {
        let mut d = valid();
        d["configuration"] =
            json!({"method": "FETCH", "url": "ftp://x", "timeout": 0, "headers": {"a": 1}});
        assert_eq!(
            fields(d, false),
            vec![
                "configuration.method",
                "configuration.url",
                "configuration.timeout",
                "configuration.headers.a"
            ]
        );
    }

    #[test]
    fn http_urls_need_the_switch() {
        let mut d = valid();
        d["configuration"]["url"] = json!("http://inventory.example.com/x");
        assert_eq!(fields(d.clone(), false), vec!["configuration.url"]);
        assert!(fields(d, true).is_empty());
    }

    #[test]
    fn names_are_bounded_and_limited_to_their_characters() {
        for bad in [
            json!(""),
            json!("   "),
            json!("a/b"),
            json!("x".repeat(129)),
            json!(5),
        ] {
            let mut d = valid();
            d["name"] = bad.clone();
            assert_eq!(fields(d, false), vec!["name"], "{bad}");
        }
        let mut d = valid();
        d["name"] = json!("x".repeat(128));
        assert!(fields(d, false).is_empty());
    }

    #[test]
    fn tags_are_unique_strings_and_unknown_fields_are_refused() {
        let mut d = valid();
        d["tags"] = json!(["a", "a", 3, ""]);
        d["owner"] = json!("me");
        assert_eq!(
            fields(d, false),
            vec!["owner", "tags[1]", "tags[2]", "tags[3]"]
        );
    }

    #[test]
    fn an_unknown_type_is_named_and_timeouts_are_bounded() {
        let mut d = valid();
        d["type"] = json!("GRPC");
        assert_eq!(fields(d, false), vec!["type"]);
        let mut d = valid();
        d["configuration"]["timeout"] = json!(60_001);
        assert_eq!(fields(d, false), vec!["configuration.timeout"]);
    }
}
