//! Acknowledgements that fail for a reason a retry cannot change are final.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{event, eventually, metric_value, spawn_app_with, TestApp};

/// `switchboard_acknowledgements_total{outcome}` (process-wide: other tests count too).
async fn acks(app: &TestApp, outcome: &str) -> f64 {
    let text = app.metrics_text().await.expect("metrics");
    metric_value(
        &text,
        "switchboard_acknowledgements_total",
        &BTreeMap::from([("outcome", outcome)]),
    )
}

/// The failed `acknowledge` audit records whose (cut) target id is a prefix of `id`.
fn failed_acks_of<'a>(records: &'a [Value], id: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["operation"] == "acknowledge" && r["outcome"] == "failed")
        .filter(|r| {
            r["target_id"]
                .as_str()
                .is_some_and(|t| id.starts_with(t.trim_end_matches('…')))
        })
        .collect()
}

#[actix_rt::test]
async fn an_acknowledgement_whose_request_cannot_be_built_fails_once_and_is_not_requeued() {
    let app = spawn_app_with(|s| {
        s.routing.max_field_bytes = 200_000;
        s.server.max_body_bytes = 4 << 20;
        // One call at a time: the queue is strictly in order, so a requeued id would be
        // tried again before the next event's acknowledgement.
        s.routing.ack_concurrency = 1;
    })
    .await;
    let failed_before = acks(&app, "failed").await;

    // 70 000 bytes: its acknowledge URL is longer than a URI may be ("uri too long").
    let prefix = format!("long-{}-", uuid::Uuid::new_v4().simple());
    let long_id = format!("{prefix}{}", "x".repeat(70_000 - prefix.len()));
    let (status, body) = app
        .post_event(&event(&long_id, json!({"priority": "low"})), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "routed", "{body}");

    let first = eventually(
        Duration::from_secs(20),
        "a failed acknowledge audit record for the long id",
        || async {
            let records = app.audit_records().await;
            failed_acks_of(&records, &long_id)
                .first()
                .map(|r| (*r).clone())
        },
    )
    .await;
    let target = first["target_id"].as_str().expect("target_id");
    assert!(
        target.len() <= switchboard_actors::audit::MAX_TARGET_ID_BYTES + '…'.len_utf8(),
        "the audit record's target_id is cut: {} bytes",
        target.len()
    );
    assert!(target.ends_with('…'), "{target}");
    assert!(first["http_status"].is_null(), "{first}");
    let error = first["error"].as_str().expect("error text");
    assert!(
        error.starts_with("the request could not be built"),
        "{error}"
    );
    assert!(error.len() < 512, "{error}");

    // The next event's acknowledgement comes after the long id in the queue: once the
    // sandbox has it, the long id was dealt with for good or tried again.
    let normal = format!("da-{}", uuid::Uuid::new_v4());
    let (status, body) = app
        .post_event(&event(&normal, json!({"priority": "low"})), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let state = app
        .wait_for_acks(std::slice::from_ref(&normal), Duration::from_secs(20))
        .await;

    let records = app.audit_records().await;
    assert_eq!(
        failed_acks_of(&records, &long_id).len(),
        1,
        "exactly one failed acknowledge record for the long id"
    );
    let acknowledged = state["acknowledgements"]
        .as_object()
        .expect("acknowledgements");
    assert!(
        acknowledged.keys().all(|id| !id.starts_with(&prefix)),
        "the sandbox never saw the long id"
    );
    let acknowledge_calls: u64 = state["requests"]
        .as_object()
        .expect("requests")
        .iter()
        .filter(|(key, _)| key.contains("/acknowledge"))
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    assert_eq!(acknowledge_calls, 1, "only the normal event's: {state}");
    // Metrics are process-wide (other tests may fail acknowledgements too): this one's
    // failure is counted as `failed`; that it was not requeued shows in the single audit
    // record above.
    assert!(acks(&app, "failed").await >= failed_before + 1.0);
}

#[actix_rt::test]
async fn while_cxone_keeps_failing_the_queue_pauses_longer_each_time_then_delivers() {
    let app = spawn_app_with(|s| {
        // One attempt per call: each failure sends the id back to the queue at once.
        s.cxone.max_attempts = 1;
        s.routing.ack_concurrency = 1;
    })
    .await;
    app.set_faults(json!({"error_rate": 1.0})).await;
    let id = format!("paused-{}", uuid::Uuid::new_v4().simple());
    let (status, body) = app
        .post_event(&event(&id, json!({"priority": "low"})), None)
        .await;
    assert_eq!(status, 200, "{body}");

    // Three failed calls: the second a pause of 1-2 s after the first, the third one of
    // 2-4 s after the second (without pauses they would follow each other within
    // milliseconds).
    let failed = eventually(
        Duration::from_secs(30),
        "three failed acknowledge calls",
        || async {
            let records = app.audit_records().await;
            let failed: Vec<Value> = failed_acks_of(&records, &id).into_iter().cloned().collect();
            (failed.len() >= 3).then_some(failed)
        },
    )
    .await;
    let at: Vec<chrono::DateTime<chrono::FixedOffset>> = failed
        .iter()
        .map(|r| {
            chrono::DateTime::parse_from_rfc3339(r["timestamp"].as_str().expect("timestamp"))
                .expect("RFC 3339")
        })
        .collect();
    let gap = |i: usize| (at[i + 1] - at[i]).num_milliseconds();
    assert!(gap(0) >= 900, "first pause {} ms", gap(0));
    assert!(gap(1) >= 1_900, "second pause {} ms", gap(1));
    assert!(
        gap(1) > gap(0),
        "pauses grow: {} then {} ms",
        gap(0),
        gap(1)
    );

    // CXone answers again: the acknowledgement goes through after the pause under way.
    app.set_faults(json!({"error_rate": 0.0})).await;
    eventually(
        Duration::from_secs(30),
        "the acknowledgement delivered",
        || async {
            let records = app.audit_records().await;
            records
                .iter()
                .any(|r| {
                    r["operation"] == "acknowledge"
                        && r["outcome"] != "failed"
                        && r["target_id"] == id.as_str()
                })
                .then_some(())
        },
    )
    .await;
}
