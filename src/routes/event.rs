//! The Data Action webhook event (seed 004): `{"dataActionId", "eventType", "timestamp",
//! "payload"}`, validated with every problem reported at once, naming the field.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use switchboard_actors::DedupeKey;

use crate::error::FieldProblem;

/// Top-level fields of an event.
pub const KNOWN_FIELDS: [&str; 4] = ["dataActionId", "eventType", "timestamp", "payload"];

/// A validated event.
#[derive(Debug, Clone, PartialEq)]
pub struct DataActionEvent {
    /// `dataActionId`: non-empty; the Kafka record key and the id acknowledged to CXone.
    pub data_action_id: String,
    /// `eventType`: optional string (empty when absent); a record header.
    pub event_type: String,
    /// `timestamp`: optional string (empty when absent); a record header.
    pub timestamp: String,
    /// `payload`: a JSON object (`{}` when absent); the record value.
    pub payload: Value,
}

/// An event ready for the router: the three header fields and the payload's compact JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutableEvent {
    /// `dataActionId`.
    pub data_action_id: String,
    /// `eventType` (empty when absent).
    pub event_type: String,
    /// `timestamp` (empty when absent).
    pub timestamp: String,
    /// The payload serialised compactly (the record value, what rules match).
    pub compact: String,
}

impl From<DataActionEvent> for RoutableEvent {
    fn from(e: DataActionEvent) -> Self {
        RoutableEvent {
            compact: e.payload.to_string(),
            data_action_id: e.data_action_id,
            event_type: e.event_type,
            timestamp: e.timestamp,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FastEvent<'a> {
    #[serde(rename = "dataActionId", borrow)]
    data_action_id: Cow<'a, str>,
    #[serde(rename = "eventType", default, borrow)]
    event_type: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    payload: Option<&'a RawValue>,
}

/// Whether JSON text has no whitespace outside strings (it is already compact).
pub fn is_compact(json: &str) -> bool {
    let (mut in_string, mut escaped) = (false, false);
    for b in json.bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else if b == b'"' {
            in_string = true;
        } else if b.is_ascii_whitespace() {
            return false;
        }
    }
    true
}

/// The common case without building a JSON tree: known fields only, a non-empty id, and a
/// payload that is an object already written compactly (taken as it is). `None` sends the
/// body down the full validation, which names any problem.
pub fn fast_event(body: &[u8]) -> Option<RoutableEvent> {
    let e: FastEvent = serde_json::from_slice(body).ok()?;
    if e.data_action_id.trim().is_empty() {
        return None;
    }
    let compact = match e.payload.map(RawValue::get) {
        None | Some("null") => "{}".to_string(),
        Some(raw) if raw.starts_with('{') && is_compact(raw) => raw.to_string(),
        Some(_) => return None,
    };
    Some(RoutableEvent {
        data_action_id: e.data_action_id.into_owned(),
        event_type: e.event_type.map(Cow::into_owned).unwrap_or_default(),
        timestamp: e.timestamp.map(Cow::into_owned).unwrap_or_default(),
        compact,
    })
}

/// Validates a parsed body. `allow_unknown` admits top-level fields beyond [`KNOWN_FIELDS`]
/// (seed 004 rejects them; so does the default configuration).
///
/// Errors: every problem, each naming its field.
pub fn validate(body: Value, allow_unknown: bool) -> Result<DataActionEvent, Vec<FieldProblem>> {
    let Value::Object(mut obj) = body else {
        return Err(vec![FieldProblem::new(
            "",
            "the event must be a JSON object",
        )]);
    };
    let mut problems = Vec::new();
    if !allow_unknown {
        for key in obj.keys().filter(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
            problems.push(FieldProblem::new(key.clone(), "is not a known field"));
        }
    }
    let data_action_id = match obj.remove("dataActionId") {
        Some(Value::String(s)) if !s.trim().is_empty() => s,
        Some(Value::String(_)) => {
            problems.push(FieldProblem::new("dataActionId", "must not be empty"));
            String::new()
        }
        Some(_) => {
            problems.push(FieldProblem::new("dataActionId", "must be a string"));
            String::new()
        }
        None => {
            problems.push(FieldProblem::new("dataActionId", "is missing"));
            String::new()
        }
    };
    let mut optional_string = |obj: &mut Map<String, Value>, field: &str| match obj.remove(field) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s,
        Some(_) => {
            problems.push(FieldProblem::new(field, "must be a string"));
            String::new()
        }
    };
    let event_type = optional_string(&mut obj, "eventType");
    let timestamp = optional_string(&mut obj, "timestamp");
    let payload = match obj.remove("payload") {
        Some(p @ Value::Object(_)) => p,
        None | Some(Value::Null) => Value::Object(serde_json::Map::new()),
        Some(_) => {
            problems.push(FieldProblem::new("payload", "must be a JSON object"));
            Value::Null
        }
    };
    if problems.is_empty() {
        Ok(DataActionEvent {
            data_action_id,
            event_type,
            timestamp,
            payload,
        })
    } else {
        Err(problems)
    }
}

/// The dedupe key of a delivery: of the `webhook-id` header when present (trimmed, not
/// blank), otherwise of `dataActionId` + `eventType` + `timestamp`.
pub fn dedupe_key(webhook_id: Option<&str>, event: &RoutableEvent) -> DedupeKey {
    match webhook_id.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => DedupeKey::webhook_id(id),
        None => DedupeKey::event(&event.data_action_id, &event.event_type, &event.timestamp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(problems: Vec<FieldProblem>) -> Vec<String> {
        problems.into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn a_complete_event_is_accepted() {
        let e = validate(
            json!({"dataActionId": "da-1", "eventType": "t", "timestamp": "ts", "payload": {"a": 1}}),
            false,
        )
        .expect("valid");
        assert_eq!(e.data_action_id, "da-1");
        assert_eq!(e.payload, json!({"a": 1}));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = validate(
            json!({"dataActionId": "", "eventType": 5, "payload": [], "extra": true}),
            false,
        )
        .expect_err("invalid");
        let mut f = fields(err);
        f.sort();
        assert_eq!(f, vec!["dataActionId", "eventType", "extra", "payload"]);
    }

    #[test]
    fn unknown_fields_pass_when_allowed() {
        assert!(validate(
            json!({"dataActionId": "x", "payload": {}, "extra": 1}),
            true
        )
        .is_ok());
        assert_eq!(
            fields(validate(json!({"payload": {}}), false).expect_err("missing id")),
            vec!["dataActionId"]
        );
        let e = validate(json!({"dataActionId": "x"}), false).expect("payload is optional");
        assert_eq!(e.payload, json!({}));
    }

    #[test]
    fn a_non_object_body_is_refused() {
        assert!(validate(json!([1, 2]), false).is_err());
    }

    #[test]
    fn the_fast_path_takes_compact_payloads_as_they_are_and_leaves_the_rest_to_validation() {
        let e = fast_event(br#"{"dataActionId":"d","eventType":"t","payload":{"b":1,"a":"x y"}}"#)
            .expect("fast");
        assert_eq!(
            e.compact, r#"{"b":1,"a":"x y"}"#,
            "order and string spaces kept"
        );
        assert_eq!(
            (
                e.data_action_id.as_str(),
                e.event_type.as_str(),
                e.timestamp.as_str()
            ),
            ("d", "t", "")
        );
        assert_eq!(
            fast_event(br#"{"dataActionId":"d"}"#)
                .expect("fast")
                .compact,
            "{}"
        );
        for slow in [
            &br#"{"dataActionId":"d","payload":{ "a": 1 }}"#[..],
            br#"{"dataActionId":"","payload":{}}"#,
            br#"{"dataActionId":"d","payload":[1]}"#,
            br#"{"dataActionId":"d","extra":1}"#,
            br#"{"dataActionId":5}"#,
        ] {
            assert!(
                fast_event(slow).is_none(),
                "{}",
                String::from_utf8_lossy(slow)
            );
        }
        // Both paths give the same record value for the same payload.
        let slow: RoutableEvent = validate(
            json!({"dataActionId": "d", "payload": {"b": 1, "a": "x y"}}),
            false,
        )
        .expect("valid")
        .into();
        assert_eq!(slow.compact, r#"{"b":1,"a":"x y"}"#);
        assert!(is_compact(r#"{"a":"s p a c e","b":[1,2]}"#));
        assert!(!is_compact("{\"a\": 1}"));
        assert!(is_compact(r#"{"a":"quote\" and space"}"#));
    }

    #[test]
    fn the_webhook_id_wins_over_the_event_fields_for_dedupe() {
        let e: RoutableEvent = validate(
            json!({"dataActionId": "d", "eventType": "t", "timestamp": "1", "payload": {}}),
            false,
        )
        .expect("valid")
        .into();
        assert_eq!(
            dedupe_key(Some("msg_1"), &e),
            DedupeKey::webhook_id("msg_1")
        );
        assert_eq!(
            dedupe_key(Some(" msg_1 "), &e),
            DedupeKey::webhook_id("msg_1")
        );
        assert_eq!(dedupe_key(Some(" "), &e), dedupe_key(None, &e));
        assert_eq!(
            dedupe_key(None, &e),
            DedupeKey::event(&e.data_action_id, &e.event_type, &e.timestamp)
        );
        assert_ne!(dedupe_key(None, &e), DedupeKey::webhook_id("msg_1"));
    }
}
