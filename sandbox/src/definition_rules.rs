//! The sandbox's own definition validation, written from seed 002 and the CXone API profile
//! (not shared with the service, so the two can disagree and a mistake in the service's
//! validation shows up as a 400 here).
//!
//! A definition is `{"name", "description"?, "type", "configuration", "enabled"?, "tags"?}`
//! (seed 002's `DataActionPayload`; no other field is accepted):
//!
//! - `name`: required, 1..=128 characters, not blank, letters, digits, `_`, `-`, `.` and
//!   spaces only;
//! - `description`: a string of at most 1024 characters, or absent/`null`;
//! - `type`: required, `REST`, `SOAP` or `SCRIPT`;
//! - `configuration`: a required object; for `REST` it is `{"method", "url", "timeout"?,
//!   "headers"?}` with `method` one of `GET POST PUT PATCH DELETE`, `url` an absolute
//!   `https://` URL with a host (the gateway refuses `http://`, as a strict gateway would,
//!   even where the service lets it through with `definitions.allow_http`), `timeout` whole
//!   milliseconds in 1..=60000, `headers` an object of strings;
//! - `enabled`: a boolean, or absent/`null`;
//! - `tags`: at most 50 distinct strings of 1..=64 characters, or absent/`null`.
//!
//! Every problem is reported, in the order of the list above (unknown fields first), each
//! naming its field as a dotted or indexed path; a body that is not an object is one problem
//! on `body`.

use serde_json::{Map, Value};

use super::error::FieldProblem;

/// The fields a definition may carry.
const DEFINITION_FIELDS: [&str; 6] = [
    "name",
    "description",
    "type",
    "configuration",
    "enabled",
    "tags",
];
/// The definition types the platform offers.
const TYPES: [&str; 3] = ["REST", "SOAP", "SCRIPT"];
/// The HTTP methods a REST definition may call with.
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];
/// Longest `name`, in characters.
const NAME_LIMIT: usize = 128;
/// Longest `description`, in characters.
const DESCRIPTION_LIMIT: usize = 1024;
/// Shortest and longest REST `timeout`, in milliseconds.
const TIMEOUT_LIMITS_MS: (u64, u64) = (1, 60_000);
/// Most `tags`.
const TAG_COUNT_LIMIT: usize = 50;
/// Longest tag, in characters.
const TAG_LIMIT: usize = 64;

/// Every problem of a definition body, by dotted field; empty when valid.
pub fn validate_definition(body: &Value) -> Vec<FieldProblem> {
    let Value::Object(definition) = body else {
        return vec![FieldProblem::new(
            "body",
            "a definition must be a JSON object",
        )];
    };
    let mut problems = Vec::new();
    let mut report =
        |field: &str, message: String| problems.push(FieldProblem::new(field, message));
    for field in definition.keys() {
        if !DEFINITION_FIELDS.contains(&field.as_str()) {
            report(field, "is not a field of a definition".to_owned());
        }
    }
    if let Err(message) = name(present(definition, "name")) {
        report("name", message);
    }
    if let Err(message) = description(present(definition, "description")) {
        report("description", message);
    }
    let kind = present(definition, "type");
    if let Err(message) = kind_of(kind) {
        report("type", message);
    }
    match present(definition, "configuration") {
        None => report("configuration", "is required".to_owned()),
        Some(Value::Object(configuration)) => {
            if kind.and_then(Value::as_str) == Some("REST") {
                for (field, message) in rest_configuration(configuration) {
                    report(&field, message);
                }
            }
        }
        Some(_) => report("configuration", "must be an object".to_owned()),
    }
    if present(definition, "enabled").is_some_and(|enabled| !enabled.is_boolean()) {
        report("enabled", "must be true or false".to_owned());
    }
    if let Some(tags) = present(definition, "tags") {
        for (field, message) in tag_problems(tags) {
            report(&field, message);
        }
    }
    problems
}

/// The value of `field`, treating `null` as absent.
fn present<'a>(object: &'a Map<String, Value>, field: &str) -> Option<&'a Value> {
    object.get(field).filter(|value| !value.is_null())
}

/// Checks `name`.
fn name(value: Option<&Value>) -> Result<(), String> {
    let text = match value {
        None => return Err("is required".to_owned()),
        Some(Value::String(text)) => text,
        Some(_) => return Err("must be a string".to_owned()),
    };
    let length = text.chars().count();
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    if length > NAME_LIMIT {
        return Err(format!(
            "must be at most {NAME_LIMIT} characters, not {length}"
        ));
    }
    let allowed = |c: char| c.is_alphanumeric() || "_-. ".contains(c);
    match text.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(format!(
            "may contain only letters, digits, '_', '-', '.' and spaces, not {c:?}"
        )),
        None => Ok(()),
    }
}

/// Checks `description`.
fn description(value: Option<&Value>) -> Result<(), String> {
    match value {
        None => Ok(()),
        Some(Value::String(text)) if text.chars().count() > DESCRIPTION_LIMIT => {
            Err(format!("must be at most {DESCRIPTION_LIMIT} characters"))
        }
        Some(Value::String(_)) => Ok(()),
        Some(_) => Err("must be a string".to_owned()),
    }
}

/// Checks `type`.
fn kind_of(value: Option<&Value>) -> Result<(), String> {
    match value {
        None => Err("is required".to_owned()),
        Some(Value::String(kind)) if TYPES.contains(&kind.as_str()) => Ok(()),
        Some(Value::String(kind)) => {
            Err(format!("must be one of {}, not {kind:?}", TYPES.join(", ")))
        }
        Some(_) => Err("must be a string".to_owned()),
    }
}

/// The problems of a REST `configuration`, as `(dotted field, message)`.
fn rest_configuration(configuration: &Map<String, Value>) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let field = |name: &str| format!("configuration.{name}");
    match present(configuration, "method") {
        None => problems.push((field("method"), "is required".to_owned())),
        Some(Value::String(method)) if METHODS.contains(&method.as_str()) => {}
        Some(_) => problems.push((
            field("method"),
            format!("must be one of {}", METHODS.join(", ")),
        )),
    }
    match present(configuration, "url") {
        None => problems.push((field("url"), "is required".to_owned())),
        Some(Value::String(url)) => {
            if let Err(message) = https_url(url) {
                problems.push((field("url"), message));
            }
        }
        Some(_) => problems.push((field("url"), "must be a string".to_owned())),
    }
    if let Some(timeout) = present(configuration, "timeout") {
        let (least, most) = TIMEOUT_LIMITS_MS;
        if !timeout
            .as_u64()
            .is_some_and(|ms| (least..=most).contains(&ms))
        {
            problems.push((
                field("timeout"),
                format!("must be a whole number of milliseconds from {least} to {most}"),
            ));
        }
    }
    match present(configuration, "headers") {
        None => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                if !value.is_string() {
                    problems.push((field(&format!("headers.{name}")), "must be a string".into()));
                }
            }
        }
        Some(_) => problems.push((
            field("headers"),
            "must be an object whose values are strings".to_owned(),
        )),
    }
    problems
}

/// Checks that `text` is an absolute `https://` URL naming a host.
fn https_url(text: &str) -> Result<(), String> {
    let url =
        url::Url::parse(text).map_err(|e| format!("{text:?} is not an absolute URL ({e})"))?;
    if url.scheme() != "https" {
        return Err(format!("must be an https:// URL, not {}://", url.scheme()));
    }
    match url.host_str() {
        Some(host) if !host.is_empty() => Ok(()),
        _ => Err(format!("{text:?} names no host")),
    }
}

/// The problems of `tags`, as `(field, message)`: the list as a whole first, then each tag.
fn tag_problems(tags: &Value) -> Vec<(String, String)> {
    let Value::Array(tags) = tags else {
        return vec![("tags".to_owned(), "must be a list of strings".to_owned())];
    };
    let mut problems = Vec::new();
    if tags.len() > TAG_COUNT_LIMIT {
        problems.push((
            "tags".to_owned(),
            format!("must hold at most {TAG_COUNT_LIMIT} tags"),
        ));
    }
    let mut seen: Vec<&str> = Vec::with_capacity(tags.len());
    for (index, tag) in tags.iter().enumerate() {
        let message = match tag.as_str() {
            None => Some("must be a string".to_owned()),
            Some(tag) if tag.is_empty() || tag.chars().count() > TAG_LIMIT => {
                Some(format!("must be from 1 to {TAG_LIMIT} characters"))
            }
            Some(tag) if seen.contains(&tag) => Some(format!("{tag:?} appears more than once")),
            Some(tag) => {
                seen.push(tag);
                None
            }
        };
        if let Some(message) = message {
            problems.push((format!("tags[{index}]"), message));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(definition: &Value) -> Vec<String> {
        validate_definition(definition)
            .into_iter()
            .map(|problem| problem.field)
            .collect()
    }

    #[test]
    fn the_seed_definition_passes_and_http_urls_are_refused() {
        let mut def = json!({"name": "Inventory", "type": "REST",
            "configuration": {"method": "GET", "url": "https://inventory.example.com/x", "timeout": 3000}});
        assert!(validate_definition(&def).is_empty());
        def["configuration"]["url"] = json!("http://inventory.example.com/x");
        let problems = validate_definition(&def);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "configuration.url");
        assert_eq!(validate_definition(&json!([]))[0].field, "body");
    }

    #[test]
    fn required_fields_and_unknown_ones_are_reported_together() {
        assert_eq!(
            fields(&json!({"owner": "me", "name": null})),
            ["owner", "name", "type", "configuration"]
        );
    }

    #[test]
    fn every_rest_problem_names_its_dotted_field() {
        let def = json!({"name": "n", "type": "REST", "configuration":
            {"method": "FETCH", "url": "ftp://x", "timeout": 0, "headers": {"a": 1, "b": "ok"}}});
        assert_eq!(
            fields(&def),
            [
                "configuration.method",
                "configuration.url",
                "configuration.timeout",
                "configuration.headers.a"
            ]
        );
        let def = json!({"name": "n", "type": "REST",
            "configuration": {"method": "GET", "url": "https://h/", "timeout": 60_001}});
        assert_eq!(fields(&def), ["configuration.timeout"]);
    }

    #[test]
    fn other_types_need_only_an_object_configuration() {
        let def = json!({"name": "n", "type": "SCRIPT", "configuration": {"code": 5}});
        assert!(fields(&def).is_empty());
        let def = json!({"name": "n", "type": "GRPC", "configuration": []});
        assert_eq!(fields(&def), ["type", "configuration"]);
    }

    #[test]
    fn names_are_bounded_and_limited_to_their_characters() {
        for bad in [
            json!(""),
            json!("  "),
            json!("a/b"),
            json!("x".repeat(129)),
            json!(5),
        ] {
            let def = json!({"name": bad, "type": "SOAP", "configuration": {}});
            assert_eq!(fields(&def), ["name"], "{bad}");
        }
        let def = json!({"name": "x".repeat(128), "type": "SOAP", "configuration": {}});
        assert!(fields(&def).is_empty());
    }

    #[test]
    fn tags_are_distinct_bounded_strings_and_enabled_is_a_boolean() {
        let def = json!({"name": "n", "type": "SOAP", "configuration": {},
            "enabled": "yes", "tags": ["a", "a", 3, "", "b"]});
        assert_eq!(fields(&def), ["enabled", "tags[1]", "tags[2]", "tags[3]"]);
        let many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
        let def = json!({"name": "n", "type": "SOAP", "configuration": {}, "tags": many});
        assert_eq!(fields(&def), ["tags"]);
    }
}
