//! Definition creation against the sandbox: validation, header matrix, redirects, 429s,
//! callbacks, the CLI, and TLS against a local server whose certificate the test trusts.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{cli, eventually, spawn_app, spawn_app_with, Capture};

fn definition() -> Value {
    json!({
        "name": "Inventory lookup",
        "description": "Checks stock",
        "type": "REST",
        "configuration": {
            "method": "GET",
            "url": "https://inventory.example.com/api/v2/stock",
            "timeout": 3000,
            "headers": {"X-Api": "1"}
        },
        "enabled": true,
        "tags": ["inventory"]
    })
}

const PATH: &str = "POST /api/v2/data-actions";

fn calls(state: &Value, status: u16) -> u64 {
    state["requests"][format!("{PATH} {status}")]
        .as_u64()
        .unwrap_or(0)
}

#[actix_rt::test]
async fn a_valid_definition_is_created_once_with_the_callers_correlation_id() {
    let app = spawn_app().await;
    let (status, body) = app
        .post_json(
            "/data-actions",
            &definition(),
            &[("X-Correlation-ID", "corr-123")],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(
        body["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
    assert_eq!(body["name"], "Inventory lookup");
    assert_eq!(body["audit"]["correlation_id"], "corr-123");
    assert_eq!(body["audit"]["outcome"], "succeeded");
    let state = app.sandbox_state().await;
    let defs = state["definitions"].as_array().expect("definitions");
    assert_eq!(defs.len(), 1, "{state}");
    assert_eq!(defs[0]["correlation_id"], "corr-123");
    assert_eq!(defs[0]["definition"], definition());
    assert_eq!(calls(&state, 201), 1);
}

#[actix_rt::test]
async fn every_validation_error_is_reported_and_nothing_is_sent() {
    let app = spawn_app().await;
    let bad = json!({
        "name": "bad/name",
        "type": "REST",
        "configuration": {"method": "FETCH", "url": "http://plain.example.com", "timeout": 0},
        "tags": ["a", "a"]
    });
    let (status, body) = app.post_json("/data-actions", &bad, &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_definition")),
        "{body}"
    );
    let fields: Vec<&str> = body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        vec![
            "name",
            "configuration.method",
            "configuration.url",
            "configuration.timeout",
            "tags[1]"
        ]
    );
    let (status, body) = app.post_json("/data-actions", &json!({}), &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["details"].as_array().map(Vec::len),
        Some(3),
        "name, type, configuration"
    );

    let (status, body) = app
        .post_json("/data-actions?dry_run=true", &definition(), &[])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["definition"], definition());
    assert!(body["header_matrix_bytes"]
        .as_u64()
        .is_some_and(|n| n > 100));

    let state = app.sandbox_state().await;
    assert_eq!(state["definitions"], json!([]));
    assert!(
        state["requests"]
            .as_object()
            .expect("requests")
            .keys()
            .all(|k| !k.starts_with(PATH)),
        "no definition call was made: {state}"
    );
}

#[actix_rt::test]
async fn an_oversized_header_matrix_is_refused_and_exactly_8192_bytes_is_accepted() {
    let app = spawn_app().await;
    let big = "c".repeat(9000);
    let (status, body) = app
        .post_json(
            "/data-actions",
            &definition(),
            &[("X-Correlation-ID", big.as_str())],
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("header_matrix_too_large")),
        "{body}"
    );
    assert_eq!(app.sandbox_state().await["definitions"], json!([]));

    let (_, probe) = app
        .post_json(
            "/data-actions?dry_run=true",
            &definition(),
            &[("X-Correlation-ID", "c")],
        )
        .await;
    let base = probe["header_matrix_bytes"].as_u64().expect("bytes") as usize;
    let exact = "c".repeat(1 + 8192 - base);
    let (_, sized) = app
        .post_json(
            "/data-actions?dry_run=true",
            &definition(),
            &[("X-Correlation-ID", exact.as_str())],
        )
        .await;
    assert_eq!(sized["header_matrix_bytes"], 8192);
    let (status, body) = app
        .post_json(
            "/data-actions",
            &definition(),
            &[("X-Correlation-ID", exact.as_str())],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let over = format!("{exact}c");
    let (status, _) = app
        .post_json(
            "/data-actions",
            &definition(),
            &[("X-Correlation-ID", over.as_str())],
        )
        .await;
    assert_eq!(status, 400);
}

#[actix_rt::test]
async fn a_redirect_loop_ends_in_too_many_redirects_after_five_hops() {
    let app = spawn_app().await;
    app.set_faults(json!({"redirect_loop": true})).await;
    let (status, body) = app.post_json("/data-actions", &definition(), &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("too_many_redirects")),
        "{body}"
    );
    assert!(
        body["message"].as_str().is_some_and(|m| m.contains("loop")),
        "{body}"
    );
    let state = app.sandbox_state().await;
    assert_eq!(
        calls(&state, 302),
        6,
        "the first request and five followed hops: {state}"
    );
    assert_eq!(state["definitions"], json!([]));
}

#[actix_rt::test]
async fn a_429_burst_is_retried_with_backoff_and_then_succeeds() {
    let app = spawn_app().await;
    app.set_faults(json!({"rate_limit_per_minute": 60})).await;
    app.drain_sandbox_bucket().await;
    let (status, body) = app.post_json("/data-actions", &definition(), &[]).await;
    assert_eq!(status, 201, "{body}");
    let state = app.sandbox_state().await;
    assert!(
        calls(&state, 429) >= 1,
        "the first attempt was throttled: {state}"
    );
    assert_eq!(calls(&state, 201), 1);
}

#[actix_rt::test]
async fn a_created_definition_is_announced_to_the_callback_url() {
    let capture = Capture::start().await;
    let url = capture.url.clone();
    let app = spawn_app_with(move |s| s.definitions.callback_url = url).await;
    let (status, body) = app
        .post_json(
            "/data-actions",
            &definition(),
            &[("X-Correlation-ID", "corr-cb")],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let events = eventually(Duration::from_secs(5), "the callback", || async {
        let b = capture.bodies();
        (!b.is_empty()).then_some(b)
    })
    .await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["event"], "data_action.created");
    assert_eq!(events[0]["correlation_id"], "corr-cb");
    assert_eq!(events[0]["status"], 201);
    assert_eq!(events[0]["id"], body["id"]);
}

#[actix_rt::test]
async fn the_cli_validates_and_creates_definitions() {
    let app = spawn_app().await;
    let good = app.dir.join("good.json");
    std::fs::write(&good, definition().to_string()).expect("write");
    let bad = app.dir.join("bad.json");
    std::fs::write(
        &bad,
        json!({"name": "", "type": "REST", "configuration": {}}).to_string(),
    )
    .expect("write");
    let good = good.to_str().expect("path").to_string();
    let bad = bad.to_str().expect("path").to_string();

    let (code, _, err) = cli(&app, &["action", "create", &bad], &[]).await;
    assert_eq!(code, 1);
    assert_eq!(err["error"], "invalid_definition", "{err}");
    let fields: Vec<&str> = err["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        vec!["name", "configuration.method", "configuration.url"]
    );

    let (code, out, _) = cli(&app, &["action", "create", &good, "--dry-run"], &[]).await;
    assert_eq!(code, 0);
    assert!(out["header_matrix_bytes"].as_u64().is_some());
    assert_eq!(
        app.sandbox_state().await["definitions"],
        json!([]),
        "a dry run sends nothing"
    );

    let (code, out, err) = cli(
        &app,
        &["action", "create", &good, "--correlation-id", "corr-cli"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["audit"]["correlation_id"], "corr-cli");
    let state = app.sandbox_state().await;
    assert_eq!(state["definitions"][0]["correlation_id"], "corr-cli");
}
