//! Every bad input gets its status and a JSON error naming the problem, and produces nothing.

use serde_json::{json, Value};

use crate::helpers::{event, spawn_app_with};

#[actix_rt::test]
async fn every_bad_input_gets_its_status_and_a_json_error_and_produces_nothing() {
    let app = spawn_app_with(|s| s.server.max_body_bytes = 2048).await;
    let good = serde_json::to_vec(&event("da-1", json!({"priority": "high"}))).expect("json");

    let (status, body) = app.post_raw("text/plain", good.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (415, Some("unsupported_media_type")),
        "{body}"
    );

    let (status, body) = app
        .post_raw("application/json", b"{not json".to_vec())
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("malformed_json")),
        "{body}"
    );

    let cases: [(Value, &str); 5] = [
        (json!({"eventType": "x", "payload": {}}), "dataActionId"),
        (json!({"dataActionId": "", "payload": {}}), "dataActionId"),
        (json!({"dataActionId": 7, "payload": {}}), "dataActionId"),
        (
            json!({"dataActionId": "da-2", "payload": {}, "surprise": 1}),
            "surprise",
        ),
        (
            json!({"dataActionId": "da-3", "payload": "text"}),
            "payload",
        ),
    ];
    for (body, field) in cases {
        let (status, resp) = app.post_event(&body, None).await;
        assert_eq!(status, 400, "{body} → {resp}");
        assert_eq!(resp["error"], "invalid_event");
        let details = resp["details"].as_array().expect("details");
        assert!(
            details.iter().any(|d| d["field"] == field),
            "{resp} names {field}"
        );
        assert!(
            resp["message"].as_str().is_some_and(|m| m.contains(field)),
            "{resp}"
        );
    }

    let big = event("da-big", json!({"blob": "x".repeat(4096)}));
    let (status, body) = app.post_event(&big, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (413, Some("payload_too_large")),
        "{body}"
    );

    let (status, body) = app.get("/webhook/cxone/data-actions").await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"], "method_not_allowed");

    // Nothing was produced: the good event goes to the high topic at offset 0.
    let (status, body) = app.post_raw("application/json", good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offset"], 0, "no earlier record on the topic");
    for (topic, partition) in [(&app.topics.eu, 1), (&app.topics.default, 2)] {
        assert!(app.read_partition(topic, partition, 0).await.is_empty());
    }
}

#[actix_rt::test]
async fn unknown_fields_are_accepted_when_the_config_allows_them() {
    let app = spawn_app_with(|s| s.routing.allow_unknown_fields = true).await;
    let (status, body) = app
        .post_event(
            &json!({"dataActionId": "da-x", "payload": {}, "tenant": "t1"}),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
