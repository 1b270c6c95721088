//! The token endpoint: grants, client authentication, errors, expiry.

use std::cell::Cell;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{eventually, spawn_sandbox};
use crate::{SandboxOptions, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};

#[actix_rt::test]
async fn token_endpoint_issues_tokens_for_form_basic_and_password_credentials() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let form = "grant_type=client_credentials&client_id=switchboard&client_secret=switchboard-sandbox-secret&scope=data-actions%3Awrite";
    let (status, body) = app.post_form(form, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "data-actions:write");
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() >= 32));

    let basic = Some((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET));
    let (status, _) = app.post_form("grant_type=client_credentials", basic).await;
    assert_eq!(status, 200);
    let password = "grant_type=password&username=AKID&password=access-secret";
    let (status, body) = app.post_form(password, basic).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("scope").is_none());

    let state = app.state().await;
    assert_eq!(state["tokens_issued"], 3);
    assert_eq!(state["requests"]["POST /oauth/token 200"], 3);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn token_endpoint_rejects_bad_credentials_json_bodies_and_unknown_grants() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let (status, body) = app
        .post_form(
            "grant_type=client_credentials&client_id=switchboard&client_secret=wrong",
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, _) = app
        .post_form(
            "grant_type=client_credentials",
            Some(("switchboard", "wrong")),
        )
        .await;
    assert_eq!(status, 401);
    let (status, body) = app
        .post_form(
            "grant_type=password&username=&password=x",
            Some(("switchboard", "switchboard-sandbox-secret")),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let (status, body) = app.post_form("grant_type=implicit", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    let mut response = app
        .client
        .post(app.url("/oauth/token"))
        .send_json(&json!({"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}))
        .await
        .expect("token call");
    assert_eq!(response.status().as_u16(), 400);
    let body = response.json::<Value>().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");

    let state = app.state().await;
    assert_eq!(state["tokens_issued"], 0);
    assert_eq!(state["requests"]["POST /oauth/token 401"], 2);
    assert_eq!(state["requests"]["POST /oauth/token 400"], 3);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_token_is_refused_once_its_ttl_has_passed() {
    let options = SandboxOptions {
        token_ttl_secs: 1,
        ..SandboxOptions::default()
    };
    let app = spawn_sandbox(options).await;
    let token = app.token().await;
    let issued = Instant::now();
    assert_eq!(app.acknowledge(&token, "ttl-0").await.status, 200);
    // Five seconds from the token's issue, not from here.
    let timeout = Duration::from_secs(5).saturating_sub(issued.elapsed());
    let attempt = Cell::new(1);
    let expired_after = eventually(
        timeout,
        Duration::from_millis(50),
        "the token to expire (5 s)",
        || async {
            let n = attempt.get();
            let status = app.acknowledge(&token, &format!("ttl-{n}")).await.status;
            if status == 401 {
                return Ok(issued.elapsed());
            }
            assert_eq!(status, 200);
            attempt.set(n + 1);
            Err(status)
        },
    )
    .await;
    assert!(
        expired_after >= Duration::from_millis(900),
        "expired after {expired_after:?}"
    );
    app.sandbox.stop().await;
}
