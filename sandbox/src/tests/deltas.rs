//! `PATCH /api/v2/dataactions/records` and the data store admin API.

use serde_json::{json, Value};

use super::{spawn_sandbox, Reply, TestSandbox};
use crate::checksum::sha256_hex;
use crate::SandboxOptions;

const RECORDS: &str = "/api/v2/dataactions/records";

/// A seed 001 body for data store `ds-1`.
fn delta_body(records: Value, conflict_resolution: &str, update_type: &str) -> Vec<u8> {
    let batch_size = records.as_array().map_or(0, Vec::len);
    serde_json::to_vec(&json!({
        "dataStoreId": "ds-1",
        "records": records,
        "updateType": update_type,
        "conflictResolution": conflict_resolution,
        "batchSize": batch_size,
        "triggerVersion": true,
    }))
    .expect("serialisable")
}

impl TestSandbox {
    /// PATCHes `body` with its correct checksum and, when given, an idempotency key.
    async fn patch_records(&self, token: &str, body: &[u8], key: Option<&str>) -> Reply {
        let checksum = sha256_hex(body);
        let mut headers = vec![
            ("X-Payload-Checksum", checksum.as_str()),
            ("If-Match", "*"),
            ("X-CXone-Version-Stamp", "true"),
        ];
        if let Some(key) = key {
            headers.push(("Idempotency-Key", key));
        }
        self.send("PATCH", RECORDS, Some(token), &headers, body)
            .await
    }

    async fn seed_store(&self, records: Value) -> (u16, Value) {
        self.admin(
            "POST",
            "/sandbox/datastores/ds-1",
            Some(json!({ "records": records })),
        )
        .await
    }

    async fn store(&self) -> Value {
        self.admin("GET", "/sandbox/datastores/ds-1", None).await.1
    }
}

#[actix_rt::test]
async fn a_delta_batch_is_applied_and_the_datastore_admin_shows_it() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let (status, seeded) = app
        .seed_store(json!([{"id": "a", "version": 2, "fields": {"x": 1, "y": 2}}]))
        .await;
    assert_eq!(status, 200, "{seeded}");
    assert_eq!(
        seeded,
        json!({"records": {"a": {"version": 2, "fields": {"x": 1, "y": 2}}}})
    );
    let body = delta_body(
        json!([{"id": "a", "version": 2, "fields": {"x": 10, "y": null}},
               {"id": "b", "fields": {"k": "v"}}]),
        "FAIL",
        "UPSERT",
    );
    let reply = app.patch_records(&token, &body, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({"dataStoreId": "ds-1", "applied": 2, "skipped": [], "conflicts": [],
               "not_found": [], "versions": {"a": 3, "b": 1}, "checksum": sha256_hex(&body)})
    );
    assert_eq!(
        app.store().await,
        json!({"records": {
            "a": {"version": 3, "fields": {"x": 10}},
            "b": {"version": 1, "fields": {"k": "v"}},
        }})
    );
    let (_, unknown) = app.admin("GET", "/sandbox/datastores/none", None).await;
    assert_eq!(unknown, json!({"records": {}}));
    let state = app.state().await;
    assert_eq!(
        state["requests"]["PATCH /api/v2/dataactions/records 200"],
        1
    );
    assert_eq!(state["delta_batches"], 1);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_missing_or_wrong_checksum_answers_400_and_applies_nothing() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let body = delta_body(json!([{"id": "a", "fields": {"x": 1}}]), "FAIL", "UPSERT");
    let missing = app.send("PATCH", RECORDS, Some(&token), &[], &body).await;
    assert_eq!(
        (missing.status, missing.body["error"].as_str()),
        (400, Some("checksum_missing"))
    );
    let upper = sha256_hex(&body).to_uppercase();
    let wrong = app
        .send(
            "PATCH",
            RECORDS,
            Some(&token),
            &[("X-Payload-Checksum", upper.as_str())],
            &body,
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.body["error"].as_str()),
        (400, Some("checksum_mismatch"))
    );
    assert!(wrong.body["message"].is_string());
    assert_eq!(app.store().await, json!({"records": {}}));
    let unauthorised = app.patch_records("not-a-token", &body, None).await;
    assert_eq!(unauthorised.status, 401);
    let state = app.state().await;
    assert_eq!(
        state["requests"]["PATCH /api/v2/dataactions/records 400"],
        2
    );
    assert_eq!(
        state["requests"]["PATCH /api/v2/dataactions/records 401"],
        1
    );
    assert_eq!(state["delta_batches"], 0);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn an_idempotency_key_replays_the_first_answer_exactly_and_applies_nothing() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let body = delta_body(json!([{"id": "a", "fields": {"n": 1}}]), "FAIL", "UPSERT");
    let first = app.patch_records(&token, &body, Some("key-1")).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let replay = app.patch_records(&token, &body, Some("key-1")).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.raw, first.raw);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
    assert_eq!(app.store().await["records"]["a"]["version"], 1);

    // A 409 is remembered too; the replay wins over the (changed) store.
    app.seed_store(json!([{"id": "a", "version": 5, "fields": {}}]))
        .await;
    let stale = delta_body(
        json!([{"id": "a", "version": 4, "fields": {"n": 2}}]),
        "FAIL",
        "UPSERT",
    );
    let conflict = app.patch_records(&token, &stale, Some("key-2")).await;
    assert_eq!(conflict.status, 409, "{}", conflict.body);
    assert_eq!(
        conflict.body,
        json!({"dataStoreId": "ds-1", "applied": 0, "skipped": ["a"], "conflicts": ["a"],
               "not_found": [], "versions": {}, "checksum": sha256_hex(&stale)})
    );
    app.seed_store(json!([{"id": "a", "version": 4, "fields": {}}]))
        .await;
    let replay = app.patch_records(&token, &stale, Some("key-2")).await;
    assert_eq!((replay.status, &replay.raw), (409, &conflict.raw));
    assert_eq!(app.store().await["records"]["a"]["version"], 4);
    // Without the key the same body is applied.
    assert_eq!(app.patch_records(&token, &stale, None).await.status, 200);

    let state = app.state().await;
    assert_eq!(state["delta_batches"], 2);
    assert_eq!(
        state["requests"]["PATCH /api/v2/dataactions/records 200"],
        3
    );
    assert_eq!(
        state["requests"]["PATCH /api/v2/dataactions/records 409"],
        2
    );
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn ignore_skips_conflicts_and_update_does_not_create_missing_records() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    app.seed_store(json!([{"id": "a", "version": 1, "fields": {"x": 1}},
                          {"id": "b", "version": 1, "fields": {}}]))
        .await;
    let body = delta_body(
        json!([{"id": "a", "version": 7, "fields": {"x": 2}},
               {"id": "b", "version": 1, "fields": {"y": 1}},
               {"id": "ghost", "fields": {"z": 1}}]),
        "IGNORE",
        "UPDATE",
    );
    let reply = app.patch_records(&token, &body, None).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["applied"], 1);
    assert_eq!(reply.body["conflicts"], json!(["a"]));
    assert_eq!(reply.body["not_found"], json!(["ghost"]));
    assert_eq!(reply.body["skipped"], json!(["a", "ghost"]));
    assert_eq!(reply.body["versions"], json!({"b": 2}));
    let store = app.store().await;
    assert_eq!(
        store["records"]["a"],
        json!({"version": 1, "fields": {"x": 1}})
    );
    assert!(store["records"].get("ghost").is_none());

    let overwrite = delta_body(
        json!([{"id": "a", "version": 7, "fields": {"x": 3}}]),
        "OVERWRITE",
        "UPSERT",
    );
    let reply = app.patch_records(&token, &overwrite, None).await;
    assert_eq!(reply.body["conflicts"], json!(["a"]));
    assert_eq!(reply.body["versions"], json!({"a": 2}));
    assert_eq!(app.store().await["records"]["a"]["fields"]["x"], 3);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn bad_delta_bodies_answer_400_naming_the_problem() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (b"not json".to_vec(), "invalid_payload", "JSON"),
        (
            delta_body(json!([{"id": "a", "fields": 3}]), "FAIL", "UPSERT"),
            "invalid_payload",
            "records[0].fields",
        ),
        (
            delta_body(json!([{"id": "a", "fields": {}}]), "LATEST", "UPSERT"),
            "invalid_payload",
            "conflictResolution",
        ),
        (
            delta_body(json!([]), "FAIL", "UPSERT"),
            "invalid_payload",
            "records",
        ),
        (
            serde_json::to_vec(&json!({"dataStoreId": "ds-1", "updateType": "UPSERT",
                "conflictResolution": "FAIL", "batchSize": 5,
                "records": [{"id": "a", "fields": {}}]}))
            .expect("serialisable"),
            "invalid_payload",
            "batchSize",
        ),
        (
            delta_body(
                Value::Array(
                    (0..1001)
                        .map(|i| json!({"id": format!("r{i}"), "fields": {}}))
                        .collect(),
                ),
                "FAIL",
                "UPSERT",
            ),
            "batch_too_large",
            "1000",
        ),
    ];
    for (body, code, mention) in cases {
        let reply = app.patch_records(&token, &body, Some("same-key")).await;
        assert_eq!(reply.status, 400, "{code} {mention}: {}", reply.body);
        assert_eq!(reply.body["error"], code, "{mention}");
        let message = reply.body["message"].as_str().unwrap_or_default();
        assert!(message.contains(mention), "{mention}: {message}");
    }
    // 400s are not remembered: the key still applies a good batch.
    let good = delta_body(json!([{"id": "a", "fields": {}}]), "FAIL", "UPSERT");
    assert_eq!(
        app.patch_records(&token, &good, Some("same-key"))
            .await
            .status,
        200
    );
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn datastore_admin_rejects_bad_records_and_reset_clears_stores_and_keys() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let (status, body) = app.seed_store(json!([{"id": "a", "version": "one"}])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_datastore"))
    );
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("records[0].version")));
    let body = delta_body(json!([{"id": "a", "fields": {}}]), "FAIL", "UPSERT");
    assert_eq!(
        app.patch_records(&token, &body, Some("k")).await.status,
        200
    );
    app.admin("POST", "/sandbox/reset", None).await;
    assert_eq!(app.store().await, json!({"records": {}}));
    let after = app.patch_records(&token, &body, Some("k")).await;
    assert_eq!(after.status, 200);
    assert_eq!(after.header("idempotent-replayed"), None);
    assert_eq!(app.state().await["delta_batches"], 1);
    app.sandbox.stop().await;
}
