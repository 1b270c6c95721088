//! Events land where their rule says, are acknowledged, and duplicates produce nothing.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{event, spawn_app};

#[actix_rt::test]
async fn events_land_on_the_topic_and_partition_their_rule_names_with_key_value_and_headers() {
    let app = spawn_app().await;
    let cases = [
        (
            "da-high",
            json!({"priority": "high", "region": "eu-west", "n": 1}),
            &app.topics.high,
            0,
        ),
        (
            "da-eu",
            json!({"priority": "low", "region": "eu-west"}),
            &app.topics.eu,
            1,
        ),
        (
            "da-other",
            json!({"priority": "normal", "region": "us-east"}),
            &app.topics.default,
            2,
        ),
    ];
    for (id, payload, topic, partition) in &cases {
        let (status, body) = app.post_event(&event(id, payload.clone()), None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "routed");
        assert_eq!(body["topic"], topic.as_str());
        assert_eq!(body["partition"], *partition);
        let records = app.read_partition(topic, *partition, 1).await;
        assert_eq!(
            records.len(),
            1,
            "exactly one record on {topic}/{partition}"
        );
        let r = &records[0];
        assert_eq!(body["offset"], r.offset);
        assert_eq!(r.record.key.as_deref(), Some(id.as_bytes()));
        let value: Value =
            serde_json::from_slice(r.record.value.as_deref().expect("value")).expect("json value");
        assert_eq!(&value, payload);
        assert_eq!(
            r.record.headers.get("eventType").map(Vec::as_slice),
            Some(&b"data_action.executed"[..])
        );
        assert_eq!(
            r.record.headers.get("timestamp").map(Vec::as_slice),
            Some(&b"2026-11-21T10:00:00.000Z"[..])
        );
    }
    let ids: Vec<String> = cases.iter().map(|c| c.0.to_string()).collect();
    app.wait_for_acks(&ids, Duration::from_secs(10)).await;
}

#[actix_rt::test]
async fn spacing_in_the_senders_json_does_not_change_the_route() {
    let app = spawn_app().await;
    let body = br#"{ "dataActionId" : "da-spaced", "payload" : { "priority"   :    "high" } }"#;
    let (status, resp) = app
        .post_raw("application/json; charset=utf-8", body.to_vec())
        .await;
    assert_eq!(status, 200, "{resp}");
    assert_eq!(resp["topic"], app.topics.high.as_str());
}

#[actix_rt::test]
async fn every_spacing_of_an_event_lands_as_the_same_record_bytes() {
    let app = spawn_app().await;
    let payload = r#"{"priority":"high","n":123456789012345678901234567890,"f":1.50e+3,"s":"caf\u00e9 \"q\"","a":[1,{"b":null}]}"#;
    let spacings = [
        format!(r#"{{"dataActionId":"da-bytes","payload":{payload}}}"#),
        format!(
            "{{ \"dataActionId\" : \"da-bytes\" ,\n  \"payload\" : {} }}\n",
            payload
                .replace(',', " ,\n    ")
                .replace(':', " :\t")
                .replace('{', "{ ")
        ),
        format!(
            "\r\n{{\"dataActionId\":\"da-bytes\",\"payload\":{}}}",
            payload.replace('[', "[  ").replace(']', "  ]")
        ),
    ];
    // A different webhook-id each time, so none is a duplicate of the one before.
    for (i, body) in spacings.iter().enumerate() {
        let resp = app
            .http
            .post(format!("{}/webhook/cxone/data-actions", app.address))
            .insert_header(("Content-Type", "application/json"))
            .insert_header(("webhook-id", format!("msg-spacing-{i}")))
            .send_body(body.clone())
            .await
            .expect("request");
        let (status, resp) = crate::helpers::status_and_json(resp).await;
        assert_eq!(status, 200, "{body:?} → {resp}");
        assert_eq!(
            (
                resp["topic"].as_str(),
                resp["partition"].as_i64(),
                resp["offset"].as_i64()
            ),
            (Some(app.topics.high.as_str()), Some(0), Some(i as i64)),
            "{body:?}"
        );
    }
    let records = app
        .read_partition(&app.topics.high, 0, spacings.len())
        .await;
    assert_eq!(records.len(), spacings.len());
    for r in &records {
        assert_eq!(
            r.record.value.as_deref(),
            Some(payload.as_bytes()),
            "the payload as written, without its whitespace"
        );
    }
}

#[actix_rt::test]
async fn a_burst_of_emitted_events_is_all_routed_by_rule_and_acknowledged() {
    let app = spawn_app().await;
    let result = app.emit(400, 32, None).await;
    assert_eq!(result["statuses"]["200"], 400, "{result}");
    let mut total = 0;
    let mut ids = Vec::new();
    for (topic, partition) in [
        (&app.topics.high, 0),
        (&app.topics.eu, 1),
        (&app.topics.default, 2),
    ] {
        let records = app.read_partition(topic, partition, 1).await;
        for r in &records {
            let v: Value =
                serde_json::from_slice(r.record.value.as_deref().expect("value")).expect("json");
            let expected = if v["priority"] == "high" {
                0
            } else if v["region"] == "eu-west" {
                1
            } else {
                2
            };
            assert_eq!(expected, partition, "record {v} is on the wrong route");
            ids.push(String::from_utf8(r.record.key.clone().expect("key")).expect("utf8"));
        }
        total += records.len();
    }
    assert_eq!(total, 400, "every event is in Kafka exactly once");
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 400);
    app.wait_for_acks(&ids, Duration::from_secs(30)).await;
}

#[actix_rt::test]
async fn duplicates_produce_nothing_new_and_are_acknowledged_exactly_once() {
    let app = spawn_app().await;
    let e = event("da-dup", json!({"priority": "high"}));
    let (s1, b1) = app.post_event(&e, Some("msg_dup_1")).await;
    assert_eq!((s1, b1["status"].as_str()), (200, Some("routed")));
    let (s2, b2) = app.post_event(&e, Some("msg_dup_1")).await;
    assert_eq!((s2, b2["status"].as_str()), (200, Some("duplicate")));
    // Without a webhook-id, the event's own fields are the key.
    let e2 = event("da-dup-2", json!({"priority": "high"}));
    assert_eq!(app.post_event(&e2, None).await.1["status"], "routed");
    assert_eq!(app.post_event(&e2, None).await.1["status"], "duplicate");

    let records = app.read_partition(&app.topics.high, 0, 2).await;
    assert_eq!(
        records.len(),
        2,
        "one record per event, none for the duplicates"
    );
    let state = app
        .wait_for_acks(
            &["da-dup".to_string(), "da-dup-2".to_string()],
            Duration::from_secs(10),
        )
        .await;
    // Each duplicate queued the acknowledgement again; the sandbox answered it 409 (success).
    let conflicts = crate::helpers::eventually(Duration::from_secs(10), "409 answers", || {
        let app = &app;
        async move {
            let state = app.sandbox_state().await;
            let n = state["requests"]["POST /api/v2/data/actions/{id}/acknowledge 409"].as_u64()?;
            (n >= 2).then_some(n)
        }
    })
    .await;
    assert_eq!(conflicts, 2, "a 409 is success: not retried");
    assert_eq!(state["acknowledgements"]["da-dup"], 1);
}

#[actix_rt::test]
async fn acknowledgements_survive_sandbox_429s_and_503s() {
    let app = spawn_app().await;
    // 429s with Retry-After 1 and 503s, each on 30% of calls: over 36 acknowledgements or
    // more, no 429 (or no 503) at all has a chance of 0.7^36 (3e-6).
    app.set_faults(json!({"throttle_rate": 0.3, "error_rate": 0.3}))
        .await;
    let mut ids = Vec::new();
    for i in 0..36 {
        let id = format!("da-ack-{i}");
        let (status, body) = app.post_event(&event(&id, json!({"i": i})), None).await;
        assert_eq!(
            status, 200,
            "ingestion is not held back by acknowledgements: {body}"
        );
        ids.push(id);
    }
    let state = app.wait_for_acks(&ids, Duration::from_secs(60)).await;
    let requests: HashMap<String, u64> =
        serde_json::from_value(state["requests"].clone()).expect("request counts");
    let count = |suffix: &str| {
        requests
            .iter()
            .filter(|(k, _)| k.contains("/acknowledge") && k.ends_with(suffix))
            .map(|(_, v)| *v)
            .sum::<u64>()
    };
    assert!(
        count(" 429") > 0,
        "the sandbox rate-limited some calls: {requests:?}"
    );
    assert!(
        count(" 503") > 0,
        "the sandbox failed some calls: {requests:?}"
    );
    assert_eq!(count(" 200"), 36);
}

#[actix_rt::test]
async fn a_two_second_token_lifetime_across_a_longer_run_surfaces_no_401() {
    let app = spawn_app().await;
    app.set_faults(json!({"token_ttl_secs": 2})).await;
    // The service may already hold a token of the default lifetime (taken at start-up to
    // register its webhook): revoke it, so every token of the run has the 2 s lifetime. The
    // next call's 401 is retried once with a fresh token inside the client, and succeeds.
    let revoked = app
        .http
        .post(format!("{}/sandbox/revoke-tokens", app.sandbox_url))
        .send()
        .await
        .expect("revoke");
    assert!(revoked.status().is_success());
    let mut ids = Vec::new();
    let mut pace = actix_rt::time::interval(Duration::from_millis(250));
    for i in 0..24 {
        pace.tick().await;
        let id = format!("da-ttl-{i}");
        let (status, _) = app.post_event(&event(&id, json!({"i": i})), None).await;
        assert_eq!(status, 200);
        ids.push(id);
    }
    let state = app.wait_for_acks(&ids, Duration::from_secs(30)).await;
    assert!(
        state["tokens_issued"].as_u64().unwrap_or(0) >= 3,
        "tokens were refreshed across the run: {}",
        state["tokens_issued"]
    );
    app.actors
        .audit
        .send(switchboard_actors::Flush)
        .await
        .expect("flush")
        .expect("flushed");
    let audit = std::fs::read_to_string(app.dir.join("audit.jsonl")).expect("audit log");
    assert!(
        audit.contains("\"operation\":\"acknowledge\""),
        "acknowledgements are audited"
    );
    assert!(
        !audit.contains("\"outcome\":\"failed\""),
        "no call failed: {audit}"
    );
}

#[actix_rt::test]
async fn healthz_and_readyz_report_a_ready_service() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await, (200, json!({"status": "ok"})));
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ready");
    assert_eq!(body["token"], "ok");
}

#[actix_rt::test]
async fn signed_webhooks_are_verified_when_a_signing_secret_is_set() {
    let app =
        crate::helpers::spawn_app_with(|s| s.routing.signing_secret = "whsec-test".into()).await;
    let signed = app.emit(20, 4, Some("whsec-test")).await;
    assert_eq!(signed["statuses"]["200"], 20, "{signed}");
    let unsigned = app.emit(5, 1, None).await;
    assert_eq!(unsigned["statuses"]["401"], 5, "{unsigned}");
    let wrong = app.emit(5, 1, Some("other-secret")).await;
    assert_eq!(wrong["statuses"]["401"], 5, "{wrong}");
}
