//! The Data Action webhook event (seed 004): `{"dataActionId", "eventType", "timestamp",
//! "payload"}`, validated with every problem reported at once, naming the field.

use serde_json::{Map, Value};

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

/// The dedupe key of a delivery: the `webhook-id` header when present, otherwise
/// `dataActionId` + `eventType` + `timestamp`.
pub fn dedupe_key(webhook_id: Option<&str>, event: &DataActionEvent) -> String {
    match webhook_id.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) => format!("wh:{id}"),
        None => format!(
            "ev:{}\u{1f}{}\u{1f}{}",
            event.data_action_id, event.event_type, event.timestamp
        ),
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
    fn the_webhook_id_wins_over_the_event_fields_for_dedupe() {
        let e = validate(
            json!({"dataActionId": "d", "eventType": "t", "timestamp": "1", "payload": {}}),
            false,
        )
        .expect("valid");
        assert_eq!(dedupe_key(Some("msg_1"), &e), "wh:msg_1");
        assert_eq!(dedupe_key(Some(" "), &e), dedupe_key(None, &e));
        assert_ne!(dedupe_key(None, &e), "wh:msg_1");
    }
}
