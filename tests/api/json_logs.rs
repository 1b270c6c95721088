//! `log.format = "json"` (`SWITCHBOARD__LOG__FORMAT=json`): every line a `switchboard serve`
//! process writes is one JSON object with `ts`, `level`, `target` and `msg`, and the lifecycle
//! lines carry `actor`, `event` and `restarts` (an integer) as members.

use serde_json::{json, Value};

use crate::helpers::{event, serve_command, spawn_sandbox, spawn_service, temp_dir};

#[actix_rt::test]
async fn every_line_is_a_json_object_and_lifecycle_lines_carry_typed_fields() {
    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let state = format!("sqlite://{}", dir.join("state.db").display());
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
