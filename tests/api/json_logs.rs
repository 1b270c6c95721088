//! `log.format = "json"` (`SWITCHBOARD__LOG__FORMAT=json`): every line a `switchboard serve`
//! process writes is one JSON object with `ts`, `level`, `target` and `msg`, and the lifecycle
//! lines carry `actor`, `event` and `restarts` (an integer) as members.

use serde_json::{json, Value};

use crate::helpers::{event, serve_command, spawn_sandbox, spawn_service, temp_dir};

#[actix_rt::test]
async fn every_line_is_a_json_object_and_lifecycle_lines_carry_typed_fields() {
    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let state = crate::helpers::sqlite_state(&dir);
    let (mut command, port) = serve_command(&dir, &sandbox.base_url(), "json", &state);
    command.env("SWITCHBOARD__LOG__FORMAT", "json");
    let service = spawn_service(command, port).await;
    let resp = awc::Client::new()
        .post(format!("{}/webhook/cxone/data-actions", service.address))
        .insert_header(("webhook-id", "msg-json-log"))
        .send_json(&event("da-json", json!({"priority": "high"})))
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 200);
    drop(service);

    let log = std::fs::read_to_string(dir.join("json.log")).expect("log");
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 10, "{log}");
    for line in &lines {
        for member in ["ts", "level", "target", "msg"] {
            assert!(line[member].is_string(), "{member} missing: {line}");
        }
    }
    let router_started = lines
        .iter()
        .find(|l| l["actor"] == "KafkaRouterActor" && l["event"] == "started")
        .unwrap_or_else(|| panic!("no lifecycle line of the router: {log}"));
    assert_eq!(
        router_started["restarts"], 0,
        "an integer: {router_started}"
    );
    assert_eq!(router_started["level"], "INFO");
}

#[actix_rt::test]
async fn events_answered_503_are_summed_up_by_reason_in_one_line_a_second() {
    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let state = crate::helpers::sqlite_state(&dir);
    let (mut command, port) = serve_command(&dir, &sandbox.base_url(), "unavailable", &state);
    command
        .env("SWITCHBOARD__LOG__FORMAT", "json")
        .env("SWITCHBOARD__KAFKA__QUEUE_CAPACITY", "1");
    let service = spawn_service(command, port).await;
    let http = awc::Client::new();
    let answers = futures::future::join_all((0..32).map(|i| {
        let request = http
            .post(format!("{}/webhook/cxone/data-actions", service.address))
            .send_json(&event(&format!("da-503-{i}"), json!({"i": i})));
        async move { request.await.map(|r| r.status().as_u16()).unwrap_or(0) }
    }))
    .await;
    let refused = answers.iter().filter(|s| **s == 503).count();
    assert!(refused > 0, "a queue of 1 refuses some of 32: {answers:?}");
    let path = dir.join("unavailable.log");
    let counted: u64 = crate::helpers::eventually(
        std::time::Duration::from_secs(5),
        "the 503 summary line",
        || async {
            let log = std::fs::read_to_string(&path).ok()?;
            let counts: Vec<u64> = log
                .lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .filter(|l| l["event"] == "unavailable" && l["reason"] == "queue_full")
                .filter_map(|l| l["count"].as_u64())
                .collect();
            let sum: u64 = counts.iter().sum();
            (sum >= refused as u64).then_some(sum)
        },
    )
    .await;
    assert_eq!(counted, refused as u64, "every 503 counted once");
    drop(service);
}
