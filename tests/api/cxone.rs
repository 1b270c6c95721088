//! The CXone client's token handling against the sandbox: one refresh for many callers, the
//! password grant, a revoked token replaced after one 401, refused credentials.

use std::time::Duration;

use serde_json::json;
use switchboard::startup::{Application, BuildOptions};
use switchboard_actors::settings::GrantType;
use switchboard_actors::GetToken;

use crate::helpers::{event, spawn_app, spawn_app_with};

#[actix_rt::test]
async fn concurrent_callers_share_one_token_refresh() {
    let app = spawn_app().await;
    let calls = (0..50).map(|_| app.actors.token.send(GetToken));
    let tokens: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|r| r.expect("mailbox").expect("token"))
        .collect();
    assert!(
        tokens.windows(2).all(|w| w[0] == w[1]),
        "every caller got the same token"
    );
    assert_eq!(
        app.sandbox_state().await["tokens_issued"],
        1,
        "one refresh in flight for all"
    );
}

#[actix_rt::test]
async fn a_revoked_token_is_replaced_after_one_401_and_the_call_succeeds() {
    let app = spawn_app().await;
    assert_eq!(
        app.post_event(&event("da-r1", json!({})), None).await.0,
        200
    );
    app.wait_for_acks(&["da-r1".into()], Duration::from_secs(10))
        .await;
    let mut resp = app
        .http
        .post(format!("{}/sandbox/revoke-tokens", app.sandbox_url))
        .send()
        .await
        .expect("revoke");
    let revoked: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(revoked["revoked"], 1);

    assert_eq!(
        app.post_event(&event("da-r2", json!({})), None).await.0,
        200
    );
    let state = app
        .wait_for_acks(&["da-r1".into(), "da-r2".into()], Duration::from_secs(10))
        .await;
    assert_eq!(
        state["requests"]["POST /api/v2/data/actions/{id}/acknowledge 401"],
        1
    );
    assert_eq!(
        state["tokens_issued"], 2,
        "the 401 dropped the token and one new one was fetched"
    );
}

#[actix_rt::test]
async fn the_password_grant_obtains_a_token_with_access_keys() {
    let app = spawn_app_with(|s| {
        s.cxone.grant_type = GrantType::Password;
        s.cxone.access_key_id = "AKIA-test key".into();
        s.cxone.access_key_secret = "secret/with&odd=chars".into();
    })
    .await;
    let token = app.actors.token.send(GetToken).await.expect("mailbox");
    assert!(token.is_ok(), "{token:?}");
    let state = app.sandbox_state().await;
    assert_eq!(state["tokens_issued"], 1);
    assert_eq!(state["requests"]["POST /oauth/token 200"], 1);
}

#[actix_rt::test]
async fn refused_credentials_make_readyz_503_without_leaking_the_secret() {
    let app = spawn_app_with(|s| s.cxone.client_secret = "wrong-secret-value".into()).await;
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 503);
    let body = body.to_string();
    assert!(body.contains("token"), "{body}");
    assert!(body.contains("401"), "{body}");
    assert!(!body.contains("wrong-secret-value"), "{body}");
}

#[actix_rt::test]
async fn start_up_is_refused_when_a_rule_names_a_partition_its_topic_lacks() {
    let dir = crate::helpers::temp_dir();
    let topics = crate::helpers::unique_topics();
    let mut settings = crate::helpers::test_settings(&dir, &topics, "http://127.0.0.1:1");
    let rules = format!(
        "[[rules]]\npattern = '.*'\ntopic = \"{}\"\npartition = 7\n",
        topics.default
    );
    std::fs::write(&settings.routing.rules_file, rules).expect("rules");
    settings.kafka.topic_partitions = 3;
    let err = Application::build(settings, BuildOptions::default())
        .await
        .err()
        .expect("start-up refused");
    let text = format!("{err:#}");
    assert!(
        text.contains("partition 7") && text.contains(&topics.default),
        "{text}"
    );
}
