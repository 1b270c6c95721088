//! Delta sets against the sandbox: batching, conflict resolution, idempotency, replication,
//! validation, and the streaming CLI.

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::helpers::{cli, spawn_app, spawn_app_with, Capture, TestApp};

fn set(ds: &str, mode: &str, records: Vec<Value>) -> Value {
    json!({"data_store_id": ds, "conflict_resolution": mode, "update_type": "UPSERT", "records": records})
}

fn new_records(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"id": format!("r{i}"), "fields": {"n": i, "status": "new"}}))
        .collect()
}

async fn datastore(app: &TestApp, ds: &str) -> HashMap<String, Value> {
    let mut resp = app
        .http
        .get(format!("{}/sandbox/datastores/{ds}", app.sandbox_url))
        .send()
        .await
        .expect("datastore");
    let body: Value = resp.json().limit(64 << 20).await.expect("json");
    serde_json::from_value(body["records"].clone()).expect("records")
}

async fn seed(app: &TestApp, ds: &str, records: Value) {
    let resp = app
        .http
        .post(format!("{}/sandbox/datastores/{ds}", app.sandbox_url))
        .send_json(&json!({"records": records}))
        .await
        .expect("seed");
    assert_eq!(resp.status().as_u16(), 200);
}

fn patch_calls(state: &Value, status: u16) -> u64 {
    state["requests"][format!("PATCH /api/v2/dataactions/records {status}")]
        .as_u64()
        .unwrap_or(0)
}

#[actix_rt::test]
async fn twenty_five_hundred_records_go_in_batches_of_1000_1000_and_500_with_new_versions() {
    let app = spawn_app().await;
    let (status, report) = app
        .post_json(
            "/deltas",
            &set("ds-big", "OVERWRITE", new_records(2500)),
            &[],
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let sizes: Vec<u64> = report["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .map(|b| b["size"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(sizes, vec![1000, 1000, 500]);
    assert!(report["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .all(|b| b["status"] == "applied"));
    assert_eq!(report["totals"]["applied"], 2500);
    assert_eq!(report["totals"]["records"], 2500);
    let store = datastore(&app, "ds-big").await;
    assert_eq!(store.len(), 2500);
    assert!(store.values().all(|r| r["version"] == 1));

    let updates: Vec<Value> = (0..2500)
        .map(|i| json!({"id": format!("r{i}"), "version": 1, "fields": {"status": "seen"}}))
        .collect();
    let (status, report) = app
        .post_json("/deltas", &set("ds-big", "FAIL", updates), &[])
        .await;
    assert_eq!(status, 200, "{report}");
    let store = datastore(&app, "ds-big").await;
    assert!(store
        .values()
        .all(|r| r["version"] == 2 && r["fields"]["status"] == "seen"));
    assert_eq!(store["r7"]["fields"]["n"], 7, "fields are merged");
}

async fn seeded_conflict_case(mode: &str) -> (TestApp, u16, Value, HashMap<String, Value>) {
    let app = spawn_app().await;
    let seeded: Vec<Value> = (0..10)
        .map(|i| json!({"id": format!("r{i}"), "version": 3, "fields": {"v": "old"}}))
        .collect();
    seed(&app, "ds-c", json!(seeded)).await;
    let mut records: Vec<Value> = (0..10)
        .map(|i| {
            let version = if i == 2 || i == 5 { 1 } else { 3 };
            json!({"id": format!("r{i}"), "version": version, "fields": {"v": "new"}})
        })
        .collect();
    records.push(json!({"id": "r10", "fields": {"v": "new"}}));
    let (status, report) = app
        .post_json("/deltas", &set("ds-c", mode, records), &[])
        .await;
    let store = datastore(&app, "ds-c").await;
    (app, status, report, store)
}

#[actix_rt::test]
async fn fail_with_stale_versions_applies_nothing_and_answers_409() {
    let (_app, status, report, store) = seeded_conflict_case("FAIL").await;
    assert_eq!(status, 409, "{report}");
    assert_eq!(report["error"], "conflict");
    assert_eq!(report["batches"][0]["status"], "conflict");
    assert_eq!(report["totals"]["conflicts"], json!(["r2", "r5"]));
    assert_eq!(report["totals"]["applied"], 0);
    assert_eq!(store.len(), 10, "r10 was not created");
    assert!(store
        .values()
        .all(|r| r["version"] == 3 && r["fields"]["v"] == "old"));
}

#[actix_rt::test]
async fn ignore_skips_the_stale_records_and_applies_the_rest() {
    let (_app, status, report, store) = seeded_conflict_case("IGNORE").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["totals"]["conflicts"], json!(["r2", "r5"]));
    assert_eq!(report["totals"]["skipped"], json!(["r2", "r5"]));
    assert_eq!(report["totals"]["applied"], 9);
    for (id, r) in &store {
        let (version, v) = match id.as_str() {
            "r2" | "r5" => (3, "old"),
            "r10" => (1, "new"),
            _ => (4, "new"),
        };
        assert_eq!(
            (r["version"].as_u64(), r["fields"]["v"].as_str()),
            (Some(version), Some(v)),
            "{id}"
        );
    }
    assert_eq!(store.len(), 11);
}

#[actix_rt::test]
async fn overwrite_applies_every_record_and_still_lists_the_conflicts() {
    let (_app, status, report, store) = seeded_conflict_case("OVERWRITE").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["totals"]["conflicts"], json!(["r2", "r5"]));
    assert_eq!(report["totals"]["applied"], 11);
    assert!(store.iter().all(
        |(id, r)| r["fields"]["v"] == "new" && r["version"] == if id == "r10" { 1 } else { 4 }
    ));
}

#[actix_rt::test]
async fn a_fail_conflict_in_a_later_batch_stops_the_run_and_reports_what_was_applied() {
    let app = spawn_app_with(|s| s.deltas.max_batch_size = 4).await;
    seed(
        &app,
        "ds-m",
        json!([{"id": "r5", "version": 9, "fields": {"v": "old"}}]),
    )
    .await;
    let mut records = new_records(12);
    records[5] = json!({"id": "r5", "version": 1, "fields": {"v": "new"}});
    let (status, report) = app
        .post_json("/deltas", &set("ds-m", "FAIL", records), &[])
        .await;
    assert_eq!(status, 409, "{report}");
    let statuses: Vec<&str> = report["batches"]
        .as_array()
        .expect("batches")
        .iter()
        .filter_map(|b| b["status"].as_str())
        .collect();
    assert_eq!(statuses, vec!["applied", "conflict", "not_sent"]);
    let store = datastore(&app, "ds-m").await;
    assert_eq!(
        store.len(),
        5,
        "batch 0 (r0..r3) applied, r5 untouched, nothing after"
    );
    assert_eq!(store["r5"]["version"], 9);
}

#[actix_rt::test]
async fn update_of_a_missing_record_is_reported_not_found_and_not_created() {
    let app = spawn_app().await;
    seed(
        &app,
        "ds-u",
        json!([{"id": "a", "version": 1, "fields": {"x": 1}}]),
    )
    .await;
    let body = json!({"data_store_id": "ds-u", "conflict_resolution": "OVERWRITE", "update_type": "UPDATE",
        "records": [{"id": "a", "fields": {"x": 2}}, {"id": "ghost", "fields": {"x": 3}}]});
    let (status, report) = app.post_json("/deltas", &body, &[]).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["totals"]["not_found"], json!(["ghost"]));
    assert_eq!(report["totals"]["applied"], 1);
    let store = datastore(&app, "ds-u").await;
    assert_eq!(store.len(), 1);
    assert_eq!(store["a"]["version"], 2);
}

#[actix_rt::test]
async fn a_batch_retried_after_a_503_is_applied_once() {
    // 30 batches at a 30% error rate: no 503 at all has a chance of 0.7^30 (2e-5); twelve
    // attempts per batch make a batch failing on 503s alone 30 × 0.3^12 (2e-5).
    let app = spawn_app_with(|s| {
        s.deltas.max_batch_size = 100;
        s.cxone.max_attempts = 12;
    })
    .await;
    app.set_faults(json!({"error_rate": 0.3})).await;
    let delta = set("ds-i", "OVERWRITE", new_records(3000));
    let (status, report) = app.post_json("/deltas", &delta, &[]).await;
    assert_eq!(status, 200, "{report}");
    let state = app.sandbox_state().await;
    assert!(
        patch_calls(&state, 503) > 0,
        "some batches were retried: {}",
        state["requests"]
    );
    assert_eq!(state["delta_batches"], 30);
    assert!(datastore(&app, "ds-i")
        .await
        .values()
        .all(|r| r["version"] == 1));

    // The same batches again carry the same idempotency keys: answered, not re-applied.
    app.set_faults(json!({"error_rate": 0.0})).await;
    let (status, again) = app.post_json("/deltas", &delta, &[]).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["totals"]["applied"], 3000,
        "the first answers are replayed"
    );
    assert_eq!(
        app.sandbox_state().await["delta_batches"],
        30,
        "nothing applied twice"
    );
    assert!(datastore(&app, "ds-i")
        .await
        .values()
        .all(|r| r["version"] == 1));
}

#[actix_rt::test]
async fn replication_events_arrive_one_per_batch_with_matching_checksums() {
    let capture = Capture::start().await;
    let url = capture.url.clone();
    let app = spawn_app_with(move |s| s.deltas.replication_webhook_url = url).await;
    let (status, report) = app
        .post_json("/deltas", &set("ds-r", "OVERWRITE", new_records(2500)), &[])
        .await;
    assert_eq!(status, 200, "{report}");
    let events = capture.bodies();
    assert_eq!(events.len(), 3, "one event per batch");
    for (event, batch) in events
        .iter()
        .zip(report["batches"].as_array().expect("batches"))
    {
        assert_eq!(event["eventType"], "cxone.delta.executed");
        assert_eq!(event["dataStoreId"], "ds-r");
        assert_eq!(event["checksum"], batch["checksum"]);
        assert_eq!(event["batchSize"], batch["size"]);
        assert_eq!(event["status"], "applied");
        assert_eq!(batch["replication"]["status"], "delivered");
    }
}

#[actix_rt::test]
async fn a_failing_replication_endpoint_is_reported_in_the_batch_result() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let app = spawn_app_with(move |s| {
        s.deltas.replication_webhook_url = format!("http://127.0.0.1:{closed}/gone");
        s.deltas.replication_attempts = 2;
    })
    .await;
    let (status, report) = app
        .post_json("/deltas", &set("ds-f", "OVERWRITE", new_records(3)), &[])
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["batches"][0]["replication"]["status"], "failed");
    assert_eq!(report["batches"][0]["replication"]["attempts"], 2);
}

#[actix_rt::test]
async fn every_validation_error_is_reported_and_nothing_is_sent() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"conflict_resolution": "FAIL", "records": [{"id": "a", "fields": {"x": 1}}]}),
            "data_store_id",
        ),
        (
            json!({"data_store_id": "d", "conflict_resolution": "FAIL", "records": []}),
            "records",
        ),
        (
            json!({"data_store_id": "d", "conflict_resolution": "MERGE", "records": [{"id": "a", "fields": {"x": 1}}]}),
            "conflict_resolution",
        ),
        (
            json!({"data_store_id": "d", "conflict_resolution": "FAIL", "update_type": "X", "records": [{"id": "a", "fields": {"x": 1}}]}),
            "update_type",
        ),
        (
            json!({"data_store_id": "d", "conflict_resolution": "FAIL", "records": [{"id": "", "fields": {"x": 1}}]}),
            "records[0].id",
        ),
        (
            json!({"data_store_id": "d", "conflict_resolution": "FAIL", "records": [{"id": "a", "fields": {"x": 1}}, {"id": "a", "fields": {"x": 2}}]}),
            "records[1].id",
        ),
        (
            json!({"data_store_id": "d", "conflict_resolution": "FAIL", "records": [{"id": "a", "fields": []}]}),
            "records[0].fields",
        ),
        (
            json!({"data_store_id": "d", "conflict_resolution": "FAIL", "records": [{"id": "a", "fields": {}}]}),
            "records[0].fields",
        ),
    ];
    for (body, field) in cases {
        let (status, resp) = app.post_json("/deltas", &body, &[]).await;
        assert_eq!(
            (status, resp["error"].as_str()),
            (400, Some("invalid_delta")),
            "{body} → {resp}"
        );
        assert!(
            resp["details"]
                .as_array()
                .expect("details")
                .iter()
                .any(|d| d["field"] == field),
            "{resp} names {field}"
        );
    }
    let state = app.sandbox_state().await;
    assert!(
        state["requests"]
            .as_object()
            .expect("requests")
            .keys()
            .all(|k| !k.starts_with("PATCH")),
        "{state}"
    );
}

#[actix_rt::test]
async fn the_cli_streams_a_json_lines_file_in_batches() {
    let app = spawn_app().await;
    let file = app.dir.join("records.jsonl");
    let lines: Vec<String> = new_records(2500).iter().map(Value::to_string).collect();
    std::fs::write(&file, lines.join("\n")).expect("write");
    let bad = app.dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\":\"a\",\"fields\":{\"x\":1}}\n{\"id\":\"a\",\"fields\":{}}\n",
    )
    .expect("write");
    let apply = |file: &std::path::Path| {
        let file = file.display().to_string();
        let app = &app;
        async move {
            let args = [
                "delta",
                "apply",
                "--data-store",
                "ds-cli",
                "--conflict",
                "OVERWRITE",
                &file,
            ];
            cli(app, &args, &[]).await
        }
    };
    let (code, _, err) = apply(&bad).await;
    assert_eq!(code, 1);
    assert_eq!(err["error"], "invalid_delta", "{err}");
    assert_eq!(err["details"][0]["field"], "line 2.fields");
    assert!(app.sandbox_state().await["requests"]
        .as_object()
        .expect("requests")
        .keys()
        .all(|k| !k.starts_with("PATCH")));

    let (code, out, err) = apply(&file).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["applied"], 2500, "{out}");
    assert_eq!(out["batches_sent"], 3);
    assert_eq!(datastore(&app, "ds-cli").await.len(), 2500);
}
