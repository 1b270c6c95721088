//! The Data Action webhook event (seed 004): `{"dataActionId", "eventType", "timestamp",
//! "payload"}`, read in one strict pass ([`scan`]) whatever the sender's spacing, and
//! validated with every problem reported at once, naming the field.
//!
//! One verdict: an event gets the same answer and the same record value however it is
//! spaced. The record value is the payload's text with its insignificant whitespace removed —
//! strings, escapes and numbers exactly as the sender wrote them — and rules match that text.

pub mod scan;

use actix_web::http::StatusCode;
use switchboard_actors::settings::RoutingSettings;
use switchboard_actors::text;
use switchboard_actors::DedupeKey;

use crate::error::{ApiError, FieldProblem};
use scan::{Kind, Member, ScanError};

/// Top-level fields of an event.
pub const KNOWN_FIELDS: [&str; 4] = ["dataActionId", "eventType", "timestamp", "payload"];

/// Longest field name quoted back in an error, in bytes (names are client text).
const MAX_NAME_BYTES: usize = 64;

/// An event ready for the router: the three header fields and the payload's compact text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutableEvent {
    /// `dataActionId`: non-blank, at most `routing.max_field_bytes`; the record key and the
    /// id acknowledged to CXone.
    pub data_action_id: String,
    /// `eventType` (empty when absent or null); a record header.
    pub event_type: String,
    /// `timestamp` (empty when absent or null); a record header.
    pub timestamp: String,
    /// The payload's compact text (`{}` when absent or null): the record value, what rules
    /// match.
    pub compact: String,
}

/// What an event may be (the `[routing]` settings that bound it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventLimits {
    /// Deepest nesting, the outer object being depth 1 (`routing.max_depth`).
    pub max_depth: usize,
    /// Longest `dataActionId`, `eventType` and `timestamp` in bytes of decoded text
    /// (`routing.max_field_bytes`).
    pub max_field_bytes: usize,
    /// Admit top-level fields beyond [`KNOWN_FIELDS`] (`routing.allow_unknown_fields`; seed
    /// 004 refuses them, as does the default configuration).
    pub allow_unknown: bool,
}

impl EventLimits {
    /// The limits `routing` sets.
    pub fn of(routing: &RoutingSettings) -> Self {
        EventLimits {
            max_depth: routing.max_depth,
            max_field_bytes: routing.max_field_bytes,
            allow_unknown: routing.allow_unknown_fields,
        }
    }
}

/// Why an event is refused.
#[derive(Debug, Clone, PartialEq, Eq, derive_more::Display, derive_more::Error)]
pub enum EventError {
    /// The body is not JSON (400 `malformed_json`).
    #[display("the body is not JSON: {_0}")]
    Malformed(ScanError),
    /// JSON that is not a valid event (400 `invalid_event`), every problem naming its field.
    #[display("{} problems", _0.len())]
    Invalid(#[error(not(source))] Vec<FieldProblem>),
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        match e {
            EventError::Malformed(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", e.to_string())
            }
            EventError::Invalid(problems) => ApiError::validation("invalid_event", problems),
        }
    }
}

/// Reads an event from a request body in one pass.
///
/// Errors: [`EventError::Malformed`] for text a strict JSON parser refuses (invalid UTF-8,
/// syntax, a lone surrogate, a number beyond the double range);
/// [`EventError::Invalid`] for nesting deeper than `limits.max_depth`, a duplicate key at any
/// level (its path named, e.g. `payload.priority`), or fields of the wrong shape or size.
pub fn parse_event(body: &[u8], limits: EventLimits) -> Result<RoutableEvent, EventError> {
    let scanned = scan::scan(body, limits.max_depth).map_err(|e| match e {
        ScanError::Syntax { .. } => EventError::Malformed(e),
        ScanError::TooDeep { path, max_depth } => EventError::Invalid(vec![FieldProblem::new(
            path,
            format!("is nested deeper than routing.max_depth ({max_depth} levels)"),
        )]),
        ScanError::DuplicateKey { path } => {
            EventError::Invalid(vec![FieldProblem::new(path, "is a duplicate key")])
        }
    })?;
    if scanned.kind != Kind::Object {
        return Err(EventError::Invalid(vec![FieldProblem::new(
            "",
            "the event must be a JSON object",
        )]));
    }
    let text = std::str::from_utf8(body).unwrap_or_default();
    let mut problems = Vec::new();
    let mut event = RoutableEvent {
        data_action_id: String::new(),
        event_type: String::new(),
        timestamp: String::new(),
        compact: "{}".to_string(),
    };
    let mut has_id = false;
    for Member {
        key,
        kind,
        span,
        spaced,
    } in scanned.members
    {
        let mut text_field = |field: &'static str, kind: Kind<'_>, nullable: bool| match kind {
            Kind::String(s) if s.len() > limits.max_field_bytes => {
                problems.push(FieldProblem::new(
                    field,
                    format!(
                        "is longer than routing.max_field_bytes ({} bytes)",
                        limits.max_field_bytes
                    ),
                ));
                String::new()
            }
            Kind::String(s) => s.into_owned(),
            Kind::Null if nullable => String::new(),
            _ => {
                problems.push(FieldProblem::new(field, "must be a string"));
                String::new()
            }
        };
        match key.as_ref() {
            "dataActionId" => {
                has_id = true;
                let blank = matches!(&kind, Kind::String(s) if s.trim().is_empty());
                event.data_action_id = text_field("dataActionId", kind, false);
                if blank {
                    problems.push(FieldProblem::new("dataActionId", "must not be empty"));
                }
            }
            "eventType" => event.event_type = text_field("eventType", kind, true),
            "timestamp" => event.timestamp = text_field("timestamp", kind, true),
            "payload" => match kind {
                Kind::Object if spaced => event.compact = scan::minify(&text[span]),
                Kind::Object => event.compact = text[span].to_string(),
                Kind::Null => {}
                _ => problems.push(FieldProblem::new("payload", "must be a JSON object")),
            },
            _ if limits.allow_unknown => {}
            _ => problems.push(FieldProblem::new(
                text::truncate(&key, MAX_NAME_BYTES),
                "is not a known field",
            )),
        }
    }
    if !has_id {
        problems.push(FieldProblem::new("dataActionId", "is missing"));
    }
    if problems.is_empty() {
        Ok(event)
    } else {
        Err(EventError::Invalid(problems))
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

    const LIMITS: EventLimits = EventLimits {
        max_depth: 64,
        max_field_bytes: 256,
        allow_unknown: false,
    };

    fn parse(body: &str) -> Result<RoutableEvent, EventError> {
        parse_event(body.as_bytes(), LIMITS)
    }

    fn fields(body: &str) -> Vec<String> {
        match parse(body) {
            Err(EventError::Invalid(problems)) => {
                let mut f: Vec<String> = problems.into_iter().map(|p| p.field).collect();
                f.sort();
                f
            }
            other => panic!("{body} → {other:?}"),
        }
    }

    #[test]
    fn a_complete_event_is_read_with_its_payload_as_written() {
        let e = parse(
            r#"{"dataActionId":"da-1","eventType":"t","timestamp":"ts","payload":{"b":1,"a":"x y"}}"#,
        )
        .expect("valid");
        assert_eq!(
            e,
            RoutableEvent {
                data_action_id: "da-1".into(),
                event_type: "t".into(),
                timestamp: "ts".into(),
                compact: r#"{"b":1,"a":"x y"}"#.into(),
            }
        );
    }

    #[test]
    fn spacing_changes_nothing_and_numbers_and_escapes_stay_as_written() {
        let compact = r#"{"dataActionId":"d\u0041","payload":{"n":123456789012345678901234567890,"f":1.50e+3,"s":"\u00e9\"\n","a":[1,{"x":null}]}}"#;
        let spaced = "{ \"dataActionId\" : \"d\\u0041\" ,\n\t\"payload\" : { \"n\" : 123456789012345678901234567890 , \"f\" : 1.50e+3 ,\r\n \"s\" : \"\\u00e9\\\"\\n\" , \"a\" : [ 1 , { \"x\" : null } ] } }";
        let (a, b) = (
            parse(compact).expect("compact"),
            parse(spaced).expect("spaced"),
        );
        assert_eq!(a, b);
        assert_eq!(a.data_action_id, "dA", "the id is decoded");
        assert_eq!(
            a.compact,
            r#"{"n":123456789012345678901234567890,"f":1.50e+3,"s":"\u00e9\"\n","a":[1,{"x":null}]}"#
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        assert_eq!(
            fields(r#"{"dataActionId":"","eventType":5,"payload":[],"extra":true}"#),
            vec!["dataActionId", "eventType", "extra", "payload"]
        );
        assert_eq!(fields(r#"{"payload":{}}"#), vec!["dataActionId"]);
        assert_eq!(fields(r#"{"dataActionId":null}"#), vec!["dataActionId"]);
        assert_eq!(fields(r#"{"dataActionId":" "}"#), vec!["dataActionId"]);
    }

    #[test]
    fn optional_fields_may_be_absent_or_null_and_unknown_ones_pass_when_allowed() {
        let e = parse(r#"{"dataActionId":"x","eventType":null,"payload":null}"#).expect("ok");
        assert_eq!((e.event_type.as_str(), e.compact.as_str()), ("", "{}"));
        assert_eq!(parse(r#"{"dataActionId":"x"}"#).expect("ok").compact, "{}");
        let body = br#"{"dataActionId":"x","payload":{},"extra":1}"#;
        let allowed = EventLimits {
            allow_unknown: true,
            ..LIMITS
        };
        assert!(parse_event(body, allowed).is_ok());
        assert!(parse_event(body, LIMITS).is_err());
    }

    #[test]
    fn a_non_object_body_is_an_invalid_event_and_text_is_malformed() {
        assert_eq!(fields("[1,2]"), vec![""]);
        assert_eq!(fields("\"text\""), vec![""]);
        assert!(matches!(parse("{nope"), Err(EventError::Malformed(_))));
        assert!(matches!(parse(""), Err(EventError::Malformed(_))));
        let e = ApiError::from(parse("[1]").expect_err("array"));
        assert_eq!(e.message, "the event must be a JSON object");
    }

    #[test]
    fn fields_longer_than_the_limit_are_refused_by_name() {
        let long = "x".repeat(257);
        let body =
            format!(r#"{{"dataActionId":"{long}","eventType":"{long}","timestamp":"{long}"}}"#);
        assert_eq!(
            fields(&body),
            vec!["dataActionId", "eventType", "timestamp"]
        );
        let at_limit = "x".repeat(256);
        assert!(parse(&format!(r#"{{"dataActionId":"{at_limit}"}}"#)).is_ok());
        // Decoded text counts: six escaped bytes are one.
        let escaped = "\\u0078".repeat(256);
        assert!(parse(&format!(r#"{{"dataActionId":"{escaped}"}}"#)).is_ok());
    }

    #[test]
    fn duplicates_and_depth_name_their_path() {
        assert_eq!(
            fields(r#"{"dataActionId":"a","dataActionId":"b"}"#),
            vec!["dataActionId"]
        );
        assert_eq!(
            fields(
                r#"{"dataActionId":"a","payload":{"priority":"high","x":[{"k":1,"\u006b":2}]}}"#
            ),
            vec!["payload.x[0].k"]
        );
        let deep = format!(
            r#"{{"dataActionId":"a","payload":{}{}}}"#,
            "[".repeat(64),
            "]".repeat(64)
        );
        let f = fields(&deep);
        assert!(f[0].starts_with("payload[0][0]"), "{}", f[0]);
        assert!(
            f[0].ends_with('…') && f[0].len() <= 170,
            "shortened: {}",
            f[0]
        );
        let ok = format!(
            r#"{{"dataActionId":"a","payload":{{"x":{}{}}}}}"#,
            "[".repeat(62),
            "]".repeat(62)
        );
        assert!(parse(&ok).is_ok(), "64 levels are allowed");
    }

    #[test]
    fn unknown_field_names_are_shortened_in_errors() {
        let name = "k".repeat(1000);
        let body = format!(r#"{{"dataActionId":"a","{name}":1}}"#);
        let f = fields(&body);
        assert!(f[0].len() < 100, "{}", f[0].len());
    }

    #[test]
    fn the_webhook_id_wins_over_the_event_fields_for_dedupe() {
        let e = parse(r#"{"dataActionId":"d","eventType":"t","timestamp":"1","payload":{}}"#)
            .expect("valid");
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
