//! Validation of a Data Action definition (seed 002), mirroring the service's own checks
//! (`switchboard_actors::definitions::validate`) so the sandbox refuses what CXone would:
//! every problem is reported, by dotted field path.

use serde_json::{Map, Value};

use super::error::FieldProblem;

/// Definition types accepted in `type`.
pub const DEFINITION_TYPES: [&str; 3] = ["REST", "SOAP", "SCRIPT"];

/// HTTP methods accepted in `configuration.method` of a `REST` definition.
pub const REST_METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// Top-level fields of a definition; any other is a problem.
pub const DEFINITION_FIELDS: [&str; 6] = [
    "name",
    "description",
    "type",
    "configuration",
    "enabled",
    "tags",
];

/// Longest `name`, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// Longest `description`, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// Longest `configuration.timeout` of a `REST` definition, in milliseconds.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// Most `tags`.
pub const MAX_TAGS: usize = 50;

/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// Every problem of a definition body; empty when it is valid.
///
/// Rules: only the fields of [`DEFINITION_FIELDS`]; `name` required, 1..=128 characters of
/// letters, digits, `_`, `-`, `.` and spaces, not only spaces; `type` required, one of
/// `REST`, `SOAP`, `SCRIPT`; `configuration` required, an object, and for `REST`: `method`
/// one of GET, POST, PUT, PATCH, DELETE, `url` an absolute `https://` URL with a host,
/// `timeout` (ms) an integer 1..=60000 when given, `headers` an optional string → string
/// map; `description` an optional string of at most 1024 characters; `enabled` an optional
/// boolean; `tags` an optional list of at most 50 unique strings of 1..=64 characters.
/// Optional fields may be `null`. A body that is not an object is one problem, field `body`.
pub fn validate_definition(body: &Value) -> Vec<FieldProblem> {
    let Value::Object(fields) = body else {
        return vec![FieldProblem::new("body", "must be a JSON object")];
    };
    let mut problems = Vec::new();
    for name in fields.keys() {
        if !DEFINITION_FIELDS.contains(&name.as_str()) {
            problems.push(FieldProblem::new(name.clone(), "is not a known field"));
        }
    }
    check_name(fields.get("name"), &mut problems);
    let kind = match fields.get("type") {
        None | Some(Value::Null) => {
            problems.push(FieldProblem::new("type", "is required"));
            None
        }
        Some(Value::String(kind)) if DEFINITION_TYPES.contains(&kind.as_str()) => {
            Some(kind.as_str())
        }
        Some(_) => {
            problems.push(FieldProblem::new(
                "type",
                "must be one of REST, SOAP, SCRIPT",
            ));
            None
        }
    };
    match fields.get("configuration") {
        None | Some(Value::Null) => {
            problems.push(FieldProblem::new("configuration", "is required"));
        }
        Some(Value::Object(configuration)) => {
            if kind == Some("REST") {
                check_rest(configuration, &mut problems);
            }
        }
        Some(_) => problems.push(FieldProblem::new("configuration", "must be an object")),
    }
    match fields.get("description") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) if text.chars().count() <= MAX_DESCRIPTION_CHARS => {}
        Some(Value::String(_)) => problems.push(FieldProblem::new(
            "description",
            "must be at most 1024 characters",
        )),
        Some(_) => problems.push(FieldProblem::new("description", "must be a string")),
    }
    if !matches!(
        fields.get("enabled"),
        None | Some(Value::Null | Value::Bool(_))
    ) {
        problems.push(FieldProblem::new("enabled", "must be a boolean"));
    }
    check_tags(fields.get("tags"), &mut problems);
    problems
}

fn check_name(name: Option<&Value>, problems: &mut Vec<FieldProblem>) {
    let message = match name {
        None | Some(Value::Null) => "is required",
        Some(Value::String(name)) => {
            let length = name.chars().count();
            if name.trim().is_empty() {
                "must not be empty"
            } else if length > MAX_NAME_CHARS {
                "must be at most 128 characters"
            } else if !name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ' '))
            {
                "may only contain letters, digits, `_`, `-`, `.` and spaces"
            } else {
                return;
            }
        }
        Some(_) => "must be a string",
    };
    problems.push(FieldProblem::new("name", message));
}

fn check_rest(configuration: &Map<String, Value>, problems: &mut Vec<FieldProblem>) {
    match configuration.get("method").and_then(Value::as_str) {
        Some(method) if REST_METHODS.contains(&method) => {}
        _ => problems.push(FieldProblem::new(
            "configuration.method",
            "must be one of GET, POST, PUT, PATCH, DELETE",
        )),
    }
    if !configuration
        .get("url")
        .and_then(Value::as_str)
        .is_some_and(is_https_url)
    {
        problems.push(FieldProblem::new(
            "configuration.url",
            "must be an absolute https:// URL",
        ));
    }
    match configuration.get("timeout") {
        None | Some(Value::Null) => {}
        Some(ms)
            if ms
                .as_u64()
                .is_some_and(|ms| (1..=MAX_TIMEOUT_MS).contains(&ms)) => {}
        Some(_) => problems.push(FieldProblem::new(
            "configuration.timeout",
            "must be an integer from 1 to 60000 (milliseconds)",
        )),
    }
    match configuration.get("headers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(headers)) => {
            for (name, value) in headers {
                if !value.is_string() {
                    problems.push(FieldProblem::new(
                        format!("configuration.headers.{name}"),
                        "must be a string",
                    ));
                }
            }
        }
        Some(_) => problems.push(FieldProblem::new(
            "configuration.headers",
            "must be an object of string values",
        )),
    }
}

/// Whether `url` is an absolute `https://` URL with a host and no whitespace or control
/// characters (a looser check than the service's URL parser, never stricter).
fn is_https_url(url: &str) -> bool {
    let Some(scheme) = url.get(..8) else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("https://")
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    let rest = &url[8..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let host = if host_port.starts_with('[') {
        host_port.split_inclusive(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    !host.is_empty()
}

fn check_tags(tags: Option<&Value>, problems: &mut Vec<FieldProblem>) {
    let tags = match tags {
        None | Some(Value::Null) => return,
        Some(Value::Array(tags)) => tags,
        Some(_) => {
            problems.push(FieldProblem::new("tags", "must be a list of strings"));
            return;
        }
    };
    if tags.len() > MAX_TAGS {
        problems.push(FieldProblem::new("tags", "must hold at most 50 tags"));
    }
    for (i, tag) in tags.iter().enumerate() {
        let field = format!("tags[{i}]");
        let Value::String(tag) = tag else {
            problems.push(FieldProblem::new(field, "must be a string"));
            continue;
        };
        if !(1..=MAX_TAG_CHARS).contains(&tag.chars().count()) {
            problems.push(FieldProblem::new(field, "must be 1 to 64 characters"));
        } else if let Some(first) = tags[..i]
            .iter()
            .position(|t| t.as_str() == Some(tag.as_str()))
        {
            problems.push(FieldProblem::new(field, format!("repeats tags[{first}]")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The seed 002 payload.
    fn seed() -> Value {
        json!({
            "name": "FetchExternalInventory",
            "description": "Retrieves real-time stock levels from warehouse API",
            "type": "REST",
            "configuration": {
                "method": "GET",
                "url": "https://inventory.example.com/api/v2/stock",
                "timeout": 3000,
                "headers": {"X-API-Key": "{{inventory_api_key}}"},
            },
            "enabled": true,
            "tags": ["inventory", "external", "production"],
        })
    }

    fn fields(problems: &[FieldProblem]) -> Vec<&str> {
        problems.iter().map(|p| p.field.as_str()).collect()
    }

    #[test]
    fn the_seed_definition_is_valid_and_optional_fields_may_be_left_out() {
        assert_eq!(validate_definition(&seed()), []);
        let minimal = json!({"name": "a b.c_d-e", "type": "SCRIPT", "configuration": {},
                             "tags": null, "description": null});
        assert_eq!(validate_definition(&minimal), []);
        let rest = json!({"name": "Café 2", "type": "REST", "configuration":
                          {"method": "POST", "url": "HTTPS://[::1]:8443/x?q={{v}}"}});
        assert_eq!(validate_definition(&rest), []);
    }

    #[test]
    fn missing_required_fields_are_each_reported() {
        assert_eq!(
            fields(&validate_definition(&json!({}))),
            ["name", "type", "configuration"]
        );
        assert_eq!(fields(&validate_definition(&json!([1]))), ["body"]);
        let extra = json!({"name": "n", "type": "SOAP", "configuration": {}, "owner": "x"});
        assert_eq!(fields(&validate_definition(&extra)), ["owner"]);
    }

    #[test]
    fn every_bad_rest_field_is_reported_by_dotted_path() {
        let body = json!({
            "name": "bad/name",
            "type": "REST",
            "configuration": {"method": "FETCH", "url": "http://plain.example.com",
                              "timeout": 60001, "headers": {"X-Count": 3}},
            "description": 5,
            "enabled": "yes",
            "tags": ["a", "", "a", 7],
        });
        assert_eq!(
            fields(&validate_definition(&body)),
            [
                "name",
                "configuration.method",
                "configuration.url",
                "configuration.timeout",
                "configuration.headers.X-Count",
                "description",
                "enabled",
                "tags[1]",
                "tags[2]",
                "tags[3]",
            ]
        );
    }

    #[test]
    fn limits_on_name_type_timeout_and_tags_hold_at_their_edges() {
        let mut body = seed();
        body["name"] = json!("n".repeat(128));
        body["configuration"]["timeout"] = json!(60000);
        body["tags"] = json!((0..50).map(|i| format!("t{i}")).collect::<Vec<_>>());
        assert_eq!(validate_definition(&body), []);
        body["name"] = json!("n".repeat(129));
        body["type"] = json!("rest");
        body["tags"] = json!((0..51).map(|i| format!("t{i}")).collect::<Vec<_>>());
        assert_eq!(
            fields(&validate_definition(&body)),
            ["name", "type", "tags"]
        );
        body["type"] = json!("REST");
        body["configuration"]["timeout"] = json!(0);
        body["configuration"]["url"] = json!("/relative/path");
        body["tags"] = json!(["x".repeat(65)]);
        body["name"] = json!("   ");
        assert_eq!(
            fields(&validate_definition(&body)),
            [
                "name",
                "configuration.url",
                "configuration.timeout",
                "tags[0]"
            ]
        );
    }

    #[test]
    fn only_absolute_https_urls_with_a_host_pass() {
        for good in [
            "https://a.example.com",
            "https://user:pw@a.example.com:8443/p#f",
            "https://[::1]/x",
        ] {
            assert!(is_https_url(good), "{good}");
        }
        for bad in [
            "http://a.example.com",
            "https://",
            "https:///path",
            "https://:443/x",
            "https://a.example.com/with space",
            "ftp://a.example.com",
            "héllo",
        ] {
            assert!(!is_https_url(bad), "{bad}");
        }
        let mut body = seed();
        body["description"] = json!("d".repeat(1025));
        body["configuration"]["timeout"] = Value::Null;
        assert_eq!(fields(&validate_definition(&body)), ["description"]);
    }

    #[test]
    fn rest_rules_do_not_apply_to_soap_and_script() {
        let body = json!({"name": "soap", "type": "SOAP", "configuration": {"url": "x"}});
        assert_eq!(validate_definition(&body), []);
        let body = json!({"name": "s", "type": "SCRIPT", "configuration": "code"});
        assert_eq!(fields(&validate_definition(&body)), ["configuration"]);
    }
}
