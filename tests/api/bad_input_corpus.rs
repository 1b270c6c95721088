//! A generated corpus of bad inputs (fixed seed): each gets its documented status and a JSON
//! error naming the problem, nothing reaches Kafka, and the service is still alive afterwards.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, status_and_json, TestApp};

/// The body limit of this test's service, so that oversize bodies stay cheap.
const MAX_BODY: usize = 64 * 1024;

/// One bad request and what the README says it gets.
struct Case {
    what: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    code: &'static str,
    /// For `invalid_event`: a field `details` must name.
    field: Option<String>,
    /// Whether the named field may be followed by more of its path (`payload.a[0][0]…`).
    prefix: bool,
}

fn case(what: impl Into<String>, body: Vec<u8>, status: u16, code: &'static str) -> Case {
    Case {
        what: what.into(),
        content_type: Some("application/json"),
        body,
        status,
        code,
        field: None,
        prefix: false,
    }
}

fn invalid(what: impl Into<String>, body: impl Into<Vec<u8>>, field: &str) -> Case {
    Case {
        field: Some(field.to_string()),
        ..case(what, body.into(), 400, "invalid_event")
    }
}

fn malformed(what: impl Into<String>, body: impl Into<Vec<u8>>) -> Case {
    case(what, body.into(), 400, "malformed_json")
}

fn good_event(rng: &mut StdRng) -> String {
    let n: u32 = rng.random_range(0..1_000_000);
    json!({
        "dataActionId": format!("da-{n}"),
        "eventType": "data_action.executed",
        "timestamp": "2026-12-03T10:00:00.000Z",
        "payload": {"priority": "high", "n": n, "tags": ["a", "b"], "nested": {"x": [1, 2.5, null]}},
    })
    .to_string()
}

/// Every case of the corpus, generated from `seed`.
fn corpus(seed: u64) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cases = Vec::new();

    // Random bytes: not JSON, or JSON that is not an event object.
    for i in 0..110 {
        let len = rng.random_range(1..200);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let (status, code) = match serde_json::from_slice::<Value>(&bytes) {
            Ok(_) => (400, "invalid_event"),
            Err(_) => (400, "malformed_json"),
        };
        cases.push(case(format!("random bytes #{i}"), bytes, status, code));
    }
    // Truncations of a valid event.
    for i in 0..70 {
        let good = good_event(&mut rng);
        let cut = rng.random_range(0..good.len());
        cases.push(malformed(
            format!("truncated at {cut} #{i}"),
            &good.as_bytes()[..cut],
        ));
    }
    // Invalid UTF-8 inside a string, and a stray byte outside one.
    for i in 0..25 {
        let good = good_event(&mut rng);
        let at = good.find("data_action").unwrap_or(0) + rng.random_range(0..10);
        let mut bytes = good.into_bytes();
        bytes.insert(at, [0xff, 0xc3, 0x80 | 0x40, 0xed][i % 4]);
        cases.push(malformed(format!("invalid UTF-8 #{i}"), bytes));
    }
    // Deep nesting, compact and spaced, arrays and objects.
    for i in 0..20 {
        let depth = [63, 64, 100, 1_000, 10_000][i % 5];
        let (open, close) = if i % 2 == 0 {
            ("[".repeat(depth), "]".repeat(depth))
        } else {
            (r#"{"x":"#.repeat(depth), "}".repeat(depth))
        };
        let space = if i % 3 == 0 { " " } else { "" };
        let body =
            format!(r#"{{"dataActionId":"deep-{i}","payload":{{"a":{space}{open}1{close}}}}}"#);
        cases.push(Case {
            prefix: true,
            ..invalid(format!("nested {depth} deep #{i}"), body, "payload.a")
        });
    }
    // Numbers outside the double range, and lone surrogates.
    for (i, number) in ["1e999999", "-1e309", "1.5E+400", &"9".repeat(400)]
        .iter()
        .enumerate()
    {
        let body = format!(r#"{{"dataActionId":"num-{i}","payload":{{"amount":{number}}}}}"#);
        cases.push(malformed(
            format!("number {}", &number[..number.len().min(12)]),
            body,
        ));
    }
    for (i, s) in [r"\ud800", r"\udfff", r"\ud83dx", r"\ud83d\u0041"]
        .iter()
        .enumerate()
    {
        let body = format!(r#"{{"dataActionId":"sur-{i}","payload":{{"s":"{s}"}}}}"#);
        cases.push(malformed(format!("lone surrogate {s}"), body));
    }
    // Duplicate keys at every level, however escaped.
    for (body, field) in [
        (
            r#"{"dataActionId":"a","dataActionId":"b","payload":{}}"#,
            "dataActionId",
        ),
        (
            r#"{"dataActionId":"a","d\u0061taActionId":"b"}"#,
            "dataActionId",
        ),
        (
            r#"{"dataActionId":"a","payload":{"priority":"high"},"payload":{"priority":"low"}}"#,
            "payload",
        ),
        (
            r#"{"dataActionId":"a","payload":{"priority":"high","priority":"low"}}"#,
            "payload.priority",
        ),
        (
            r#"{"dataActionId":"a","payload":{"p":[{"k":1},{"k":1,"\u006b":2}]}}"#,
            "payload.p[1].k",
        ),
        (
            r#"{ "dataActionId" : "a" , "payload" : { "x" : 1 , "x" : 1 } }"#,
            "payload.x",
        ),
    ] {
        cases.push(invalid(format!("duplicate {field}"), body, field));
    }
    // Each field with each wrong type, and missing or empty ids.
    let wrong: [(&str, Value); 6] = [
        ("number", json!(7)),
        ("bool", json!(true)),
        ("array", json!(["x"])),
        ("object", json!({"x": 1})),
        ("null", Value::Null),
        ("string", json!("text")),
    ];
    for field in ["dataActionId", "eventType", "timestamp", "payload"] {
        for (kind, value) in &wrong {
            let acceptable = match field {
                "dataActionId" => *kind == "string",
                "payload" => matches!(*kind, "object" | "null"),
                _ => matches!(*kind, "string" | "null"),
            };
            if acceptable {
                continue;
            }
            let mut event = json!({"dataActionId": "typed", "payload": {}});
            event[field] = value.clone();
            cases.push(invalid(
                format!("{field} as {kind}"),
                event.to_string(),
                field,
            ));
        }
    }
    for (what, event) in [
        ("missing id", json!({"payload": {}})),
        ("empty id", json!({"dataActionId": ""})),
        ("blank id", json!({"dataActionId": " \t"})),
    ] {
        cases.push(invalid(what, event.to_string(), "dataActionId"));
    }
    cases.push(invalid(
        "unknown field",
        json!({"dataActionId": "u", "surprise": 1}).to_string(),
        "surprise",
    ));
    for (what, body) in [
        ("array", "[1,2]"),
        ("string", "\"s\""),
        ("number", "5"),
        ("null", "null"),
    ] {
        cases.push(invalid(format!("a bare {what}"), body, ""));
    }
    // Oversize fields, at random lengths over the limit.
    for i in 0..30 {
        let field = ["dataActionId", "eventType", "timestamp"][i % 3];
        let len = rng.random_range(257..4000);
        let mut event = json!({"dataActionId": "big", "payload": {}});
        event[field] = json!("x".repeat(len));
        cases.push(invalid(
            format!("{field} of {len} bytes"),
            event.to_string(),
            field,
        ));
    }
    // Wrong content types, and bodies over the limit.
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/xml"),
        Some("application/x-www-form-urlencoded"),
        Some("application/jsonx"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let mut c = case(
            format!("content type {content_type:?}"),
            good_event(&mut rng).into_bytes(),
            415,
            "unsupported_media_type",
        );
        c.content_type = content_type;
        cases.push(c);
    }
    for i in 0..3 {
        let blob = "y".repeat(MAX_BODY + rng.random_range(1..10_000));
        let body = json!({"dataActionId": format!("huge-{i}"), "payload": {"blob": blob}});
        cases.push(case(
            format!("body over the limit #{i}"),
            body.to_string().into_bytes(),
            413,
            "payload_too_large",
        ));
    }
    cases
}

async fn send(app: &TestApp, c: &Case) -> (u16, Value) {
    let mut req = app
        .http
        .post(format!("{}/webhook/cxone/data-actions", app.address));
    if let Some(content_type) = c.content_type {
        req = req.insert_header(("Content-Type", content_type));
    }
    status_and_json(req.send_body(c.body.clone()).await.expect("request")).await
}

#[actix_rt::test]
async fn a_corpus_of_bad_inputs_gets_documented_answers_and_produces_nothing() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = MAX_BODY).await;
    let cases = corpus(14);
    assert!(cases.len() >= 300, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let (status, body) = send(&app, c).await;
        let named = match &c.field {
            None => true,
            Some(field) => body["details"].as_array().is_some_and(|d| {
                d.iter().any(|p| {
                    let named = p["field"].as_str().unwrap_or_default();
                    named == field || (c.prefix && named.starts_with(field.as_str()))
                })
            }),
        };
        let message = body["message"].as_str().unwrap_or_default();
        if status != c.status
            || body["error"] != c.code
            || message.is_empty()
            || message.starts_with(':')
            || !named
        {
            failures.push(format!(
                "{}: expected {} {} {:?}, got {status} {body}",
                c.what, c.status, c.code, c.field
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases answered wrongly:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert_eq!(app.get("/healthz").await, (200, json!({"status": "ok"})));
    // Nothing was produced: a good event is the first record of its topic.
    let good = json!({"dataActionId": "after", "payload": {"priority": "high"}});
    let (status, body) = app.post_event(&good, None).await;
    assert_eq!((status, &body["offset"]), (200, &json!(0)), "{body}");
    for (topic, partition) in [(&app.topics.eu, 1), (&app.topics.default, 2)] {
        assert!(app.read_partition(topic, partition, 0).await.is_empty());
    }
}
