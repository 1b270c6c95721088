//! The API and the admin API: acknowledgements, rate limit, faults, latency, unknown routes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::spawn_sandbox;
use crate::{SandboxOptions, DEFAULT_CLIENT_SECRET};

#[actix_rt::test]
async fn acknowledge_answers_200_then_409_and_state_counts_one_per_id() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let first = app.acknowledge(&token, "evt-1").await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.body,
        json!({"dataActionId": "evt-1", "acknowledged": true})
    );
    let second = app.acknowledge(&token, "evt-1").await;
    assert_eq!(second.status, 409);
    assert_eq!(second.body["error"], "already_acknowledged");
    let unauthorised = app.acknowledge("not-a-token", "evt-2").await;
    assert_eq!(unauthorised.status, 401);
    assert_eq!(unauthorised.body["error"], "invalid_token");

    let state = app.state().await;
    assert_eq!(state["acknowledgements"], json!({"evt-1": 1}));
    let requests = &state["requests"];
    assert_eq!(
        requests["POST /api/v2/data/actions/{id}/acknowledge 200"],
        1
    );
    assert_eq!(
        requests["POST /api/v2/data/actions/{id}/acknowledge 409"],
        1
    );
    assert_eq!(
        requests["POST /api/v2/data/actions/{id}/acknowledge 401"],
        1
    );
    assert_eq!(state["executions"], json!([]));
    assert_eq!(state["exports"], json!({}));
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_small_rate_limit_answers_429_with_retry_after() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let (status, faults) = app
        .admin(
            "POST",
            "/sandbox/faults",
            Some(json!({"rate_limit_per_minute": 3})),
        )
        .await;
    assert_eq!(
        (status, faults["rate_limit_per_minute"].as_u64()),
        (200, Some(3))
    );
    for i in 0..3 {
        let id = format!("burst-{i}");
        assert_eq!(app.acknowledge(&token, &id).await.status, 200);
    }
    let limited = app.acknowledge(&token, "burst-3").await;
    assert_eq!(limited.status, 429);
    let retry_after: u64 = limited
        .retry_after
        .and_then(|v| v.parse().ok())
        .expect("Retry-After header in whole seconds");
    // 3 per minute refills one token every 20 s.
    assert!((1..=20).contains(&retry_after), "retry after {retry_after}");
    assert_eq!(limited.body["error"], "rate_limited");

    // A new limit refills the bucket at once.
    app.admin(
        "POST",
        "/sandbox/faults",
        Some(json!({"rate_limit_per_minute": 100})),
    )
    .await;
    assert_eq!(app.acknowledge(&token, "burst-3").await.status, 200);
    let state = app.state().await;
    assert_eq!(
        state["requests"]["POST /api/v2/data/actions/{id}/acknowledge 429"],
        1
    );
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn faults_are_validated_applied_and_reset() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let (status, body) = app
        .admin("POST", "/sandbox/faults", Some(json!({"latency": 5})))
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_faults"))
    );
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("latency")));
    let (status, body) = app
        .admin(
            "POST",
            "/sandbox/faults",
            Some(json!({"error_rate": "all"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("error_rate")));

    let token = app.token().await;
    let (status, faults) = app
        .admin(
            "POST",
            "/sandbox/faults",
            Some(json!({"error_rate": 1.0, "client_secret": "rotated"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(faults["client_secret"], "rotated");
    assert_eq!(faults["rate_limit_per_minute"], 6000);
    let unavailable = app.acknowledge(&token, "e-1").await;
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.body["error"], "service_unavailable");
    let (status, _) = app
        .post_form(
            "grant_type=client_credentials",
            Some(("switchboard", "switchboard-sandbox-secret")),
        )
        .await;
    assert_eq!(status, 401);

    let (status, body) = app.admin("POST", "/sandbox/reset", None).await;
    assert_eq!((status, body), (200, json!({"status": "reset"})));
    let (_, faults) = app.admin("GET", "/sandbox/faults", None).await;
    assert_eq!(faults["error_rate"], 0.0);
    assert_eq!(faults["client_secret"], DEFAULT_CLIENT_SECRET);
    assert_eq!(app.state().await["requests"], json!({}));
    assert_eq!(app.acknowledge(&token, "e-1").await.status, 200);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn latency_is_added_before_the_handler_answers() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    app.admin("POST", "/sandbox/faults", Some(json!({"latency_ms": 150})))
        .await;
    let started = Instant::now();
    assert_eq!(app.acknowledge(&token, "slow").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let mut response = app.client.get(app.url("/nope")).send().await.expect("call");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["error"],
        "not_found"
    );
    let mut response = app
        .client
        .get(app.url("/oauth/token"))
        .send()
        .await
        .expect("call");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response.json::<Value>().await.expect("JSON")["error"],
        "method_not_allowed"
    );
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn throttle_rate_answers_429_with_retry_after_one_until_reset() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let (status, body) = app
        .admin(
            "POST",
            "/sandbox/faults",
            Some(json!({"throttle_rate": 2.0})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_faults"))
    );
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("throttle_rate")));

    // Throttling comes before error_rate: a throttled call is a 429, never a 503.
    let (status, faults) = app
        .admin(
            "POST",
            "/sandbox/faults",
            Some(json!({"throttle_rate": 1.0, "error_rate": 1.0})),
        )
        .await;
    assert_eq!((status, faults["throttle_rate"].as_f64()), (200, Some(1.0)));
    for i in 0..5 {
        let throttled = app.acknowledge(&token, &format!("t-{i}")).await;
        assert_eq!(throttled.status, 429);
        assert_eq!(throttled.retry_after.as_deref(), Some("1"));
        assert_eq!(throttled.body["error"], "rate_limited");
        assert!(throttled.body["message"].is_string());
    }
    let state = app.state().await;
    assert_eq!(
        state["requests"]["POST /api/v2/data/actions/{id}/acknowledge 429"],
        5
    );
    assert_eq!(state["acknowledgements"], json!({}));

    app.admin("POST", "/sandbox/reset", None).await;
    let (_, faults) = app.admin("GET", "/sandbox/faults", None).await;
    assert_eq!(faults["throttle_rate"], 0.0);
    assert_eq!(app.acknowledge(&token, "t-0").await.status, 200);
    app.sandbox.stop().await;
}
