//! Property tests of the event reader: one verdict whatever the spacing, and strict where a
//! strict JSON parser is strict.
//!
//! Random events (deep nesting, long and precise numbers, escapes, surrogate pairs and lone
//! surrogates, duplicate keys, wrong types) are rendered compactly and re-spaced several ways:
//! every rendering gets the same status, error code and details, the same route and the same
//! record bytes. Accepted events' record bytes are the payload as generated, minus spacing,
//! and serde_json (the reference here) accepts them too; what serde_json refuses, the reader
//! refuses. Random byte-level damage to valid events is checked against serde_json the same way.

use proptest::prelude::*;
use serde_json::Value;
use switchboard::config::DEFAULT_ROUTES;
use switchboard::error::{ApiError, Problem};
use switchboard::routes::event::{parse_event, EventLimits, RoutableEvent};
use switchboard_actors::router::RuleSet;

const LIMITS: EventLimits = EventLimits {
    max_depth: 64,
    max_field_bytes: 256,
    allow_unknown: false,
};

/// A JSON value as the sender writes it: numbers, strings and keys are raw JSON text.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// Renders `j`, calling `space` at every place JSON allows whitespace.
fn render(j: &J, out: &mut String, space: &mut dyn FnMut(&mut String)) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Num(n) => out.push_str(n),
        J::Str(s) => out.push_str(s),
        J::Arr(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    space(out);
                    out.push(',');
                }
                space(out);
                render(item, out, space);
            }
            space(out);
            out.push(']');
        }
        J::Obj(members) => {
            out.push('{');
            for (i, (key, value)) in members.iter().enumerate() {
                if i > 0 {
                    space(out);
                    out.push(',');
                }
                space(out);
                out.push_str(key);
                space(out);
                out.push(':');
                space(out);
                render(value, out, space);
            }
            space(out);
            out.push('}');
        }
    }
}

fn compact(j: &J) -> String {
    let mut out = String::new();
    render(j, &mut out, &mut |_| {});
    out
}

const SPACES: [&str; 6] = ["", " ", "\n", "\t ", "\r\n  ", ""];

/// `j` with whitespace chosen by `choices` (cycled), before and after the value too.
fn spaced(j: &J, choices: &[u8]) -> String {
    let mut i = 0;
    let mut space = |out: &mut String| {
        out.push_str(SPACES[choices[i % choices.len()] as usize % SPACES.len()]);
        i += 1;
    };
    let mut out = String::new();
    space(&mut out);
    render(j, &mut out, &mut space);
    space(&mut out);
    out
}

fn string_piece() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9 ]{0,6}",
        1 => Just("é😀".to_string()),
        2 => prop::sample::select(vec!["\\\"", "\\\\", "\\/", "\\b", "\\f", "\\n", "\\r", "\\t"])
            .prop_map(String::from),
        1 => any::<u16>().prop_map(|u| format!("\\u{u:04x}")), // lone surrogates included
        1 => Just("\\ud83d\\ude00".to_string()),
        1 => Just("\\u0061".to_string()),
    ]
}

fn json_string() -> impl Strategy<Value = String> {
    prop::collection::vec(string_piece(), 0..4).prop_map(|p| format!("\"{}\"", p.concat()))
}

/// Keys from a small set, so duplicates (also differently escaped: `a` and `\u0061`) occur.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "\\u0061", "priority", "p\\u0072iority", "region", "n"])
            .prop_map(|k| format!("\"{k}\"")),
        1 => json_string(),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "-?(0|[1-9][0-9]{0,35})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?",
        1 => "-?[1-9][0-9]{0,3}[eE][+]?[0-9]{4,6}", // beyond the double range
        1 => Just("123456789012345678901234567890".to_string()),
    ]
}

fn leaf() -> impl Strategy<Value = J> {
    prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        number().prop_map(J::Num),
        json_string().prop_map(J::Str),
        Just(J::Str("\"high\"".into())),
        Just(J::Str("\"eu-west\"".into())),
    ]
}

fn tree() -> impl Strategy<Value = J> {
    leaf().prop_recursive(5, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(J::Arr),
            prop::collection::vec((key(), inner), 0..5).prop_map(J::Obj),
        ]
    })
}

/// `j` wrapped in `depth` arrays or objects (alternating by `objects`).
fn nest(j: J, depth: usize, objects: bool) -> J {
    (0..depth).fold(j, |j, i| {
        if objects && i % 2 == 0 {
            J::Obj(vec![("\"x\"".into(), j)])
        } else {
            J::Arr(vec![j])
        }
    })
}

fn payload() -> impl Strategy<Value = J> {
    prop_oneof![
        4 => prop::collection::vec((key(), tree()), 0..6).prop_map(J::Obj),
        // Around the depth limit: the payload is depth 2, so 62 more levels are the most.
        1 => (tree(), 58usize..68, any::<bool>())
            .prop_map(|(j, d, o)| J::Obj(vec![("\"deep\"".into(), nest(j, d, o))])),
        1 => leaf(),
    ]
}

fn event() -> impl Strategy<Value = J> {
    let id = prop_oneof![
        6 => "[a-z0-9-]{1,12}".prop_map(|s| J::Str(format!("\"{s}\""))),
        1 => json_string().prop_map(J::Str),
        1 => leaf(),
    ];
    (
        id,
        prop::option::of(json_string()),
        prop::option::of(payload()),
        prop::collection::vec((key(), leaf()), 0..2),
        any::<bool>(),
    )
        .prop_map(|(id, event_type, payload, extra, repeat_id)| {
            let mut members = vec![("\"dataActionId\"".to_string(), id.clone())];
            if let Some(t) = event_type {
                members.push(("\"eventType\"".into(), J::Str(t)));
            }
            if let Some(p) = payload {
                members.push(("\"payload\"".into(), p));
            }
            if repeat_id {
                members.push(("\"data\\u0041ctionId\"".into(), id));
            }
            members.extend(extra);
            J::Obj(members)
        })
}

/// What an answer is made of, message left out for `malformed_json` (it names a byte offset,
/// which spacing moves).
#[derive(Debug, PartialEq)]
enum Verdict {
    Routed {
        event: RoutableEvent,
        route: Option<String>,
    },
    Refused {
        status: u16,
        code: &'static str,
        details: Vec<Problem>,
    },
}

fn verdict(body: &str, rules: &RuleSet) -> Verdict {
    match parse_event(body.as_bytes(), LIMITS) {
        Ok(event) => Verdict::Routed {
            route: rules
                .route(&event.compact)
                .map(|r| format!("{}/{}", r.topic, r.partition)),
            event,
        },
        Err(e) => {
            let e = ApiError::from(e);
            Verdict::Refused {
                status: e.status.as_u16(),
                code: e.code,
                details: e.details,
            }
        }
    }
}

fn rules() -> RuleSet {
    RuleSet::from_toml(DEFAULT_ROUTES).expect("default rules")
}

fn payload_of(j: &J) -> Option<&J> {
    match j {
        J::Obj(members) => members
            .iter()
            .find(|(k, _)| k == "\"payload\"")
            .map(|(_, v)| v),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn spacing_never_changes_the_status_the_route_or_the_record_bytes(
        event in event(),
        spacings in prop::collection::vec(prop::collection::vec(0u8..6, 1..9), 3),
    ) {
        let rules = rules();
        let body = compact(&event);
        let expected = verdict(&body, &rules);
        for choices in &spacings {
            let respaced = spaced(&event, choices);
            prop_assert_eq!(&verdict(&respaced, &rules), &expected, "{} vs {}", respaced, body);
        }
        let reference = serde_json::from_str::<Value>(&body);
        match &expected {
            Verdict::Routed { event: routed, .. } => {
                // serde_json agrees the text is JSON, and the record is the payload as written.
                prop_assert!(reference.is_ok(), "{}", body);
                let written = payload_of(&event).filter(|p| !matches!(p, J::Null)).map(compact);
                prop_assert_eq!(&routed.compact, &written.unwrap_or_else(|| "{}".into()));
            }
            Verdict::Refused { code, .. } if *code == "malformed_json" => {
                prop_assert!(reference.is_err(), "serde_json accepts what was refused: {}", body);
            }
            Verdict::Refused { .. } => {}
        }
    }

    #[test]
    fn damaged_events_are_refused_exactly_when_a_strict_parser_refuses_them(
        event in event(),
        cut in any::<prop::sample::Index>(),
        byte in prop::sample::select(b"{}[],:\"\\ 0-1eE.tnfu\x01\xff".to_vec()),
        how in 0u8..3,
    ) {
        let mut body = compact(&event).into_bytes();
        let at = cut.index(body.len() + 1);
        match how {
            0 => body.truncate(at),
            1 => body.insert(at, byte),
            _ => { if at < body.len() { body.remove(at); } }
        }
        let ours = parse_event(&body, LIMITS).map_err(ApiError::from);
        let reference = serde_json::from_slice::<Value>(&body);
        match (&ours, &reference) {
            (Err(e), Ok(_)) => prop_assert!(
                e.code != "malformed_json",
                "refused as malformed what serde_json reads: {}",
                String::from_utf8_lossy(&body)
            ),
            (Ok(_), Err(e)) => prop_assert!(
                false,
                "accepted what serde_json refuses ({}): {}",
                e,
                String::from_utf8_lossy(&body)
            ),
            _ => {}
        }
    }
}

#[test]
fn the_cases_of_the_report_get_one_verdict() {
    let rules = rules();
    let deep = format!(
        r#"{{"dataActionId":"d","payload":{{"a":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases = [
        (deep.as_str(), 400, "invalid_event"),
        (
            r#"{"dataActionId":"d","payload":{"amount":1e999999}}"#,
            400,
            "malformed_json",
        ),
        (
            r#"{"dataActionId":"d","payload":{"s":"\ud800"}}"#,
            400,
            "malformed_json",
        ),
        (
            r#"{"dataActionId":"a","dataActionId":"b","payload":{}}"#,
            400,
            "invalid_event",
        ),
        (
            r#"{"dataActionId":"d","payload":{"priority":"high"},"payload":{"priority":"low"}}"#,
            400,
            "invalid_event",
        ),
        (
            r#"{"dataActionId":"d","payload":{"priority":"high","priority":"low"}}"#,
            400,
            "invalid_event",
        ),
    ];
    for (body, status, code) in cases {
        let with_space = body.replacen(':', ": ", 1);
        for text in [body, with_space.as_str()] {
            match verdict(text, &rules) {
                Verdict::Refused {
                    status: s, code: c, ..
                } => {
                    assert_eq!((s, c), (status, code), "{}", &text[..text.len().min(80)])
                }
                other => panic!("{} → {other:?}", &text[..text.len().min(80)]),
            }
        }
    }
    let big = r#"{"dataActionId":"d","payload":{"n":123456789012345678901234567890}}"#;
    for text in [big.to_string(), big.replace(':', " : ")] {
        match verdict(&text, &rules) {
            Verdict::Routed { event, .. } => {
                assert_eq!(event.compact, r#"{"n":123456789012345678901234567890}"#)
            }
            other => panic!("{other:?}"),
        }
    }
}
