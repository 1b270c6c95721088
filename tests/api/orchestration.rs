//! Orchestration against the sandbox: dependencies and the cap (checked from the sandbox's
//! execution times), skips, merge conditions, webhook and polling completion, idempotent
//! events, 429s, validation by HTTP and CLI.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{cli, eventually, spawn_app, spawn_app_with, TestApp};

fn id(n: usize) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

fn node(n: usize, deps: &[usize], latency_ms: u64, outcome: &str) -> Value {
    json!({
        "id": id(n),
        "depends_on": deps.iter().map(|d| id(*d)).collect::<Vec<_>>(),
        "input_data": {"n": n, "sandbox": {"latency_ms": latency_ms, "outcome": outcome}}
    })
}

fn plan(nodes: Vec<Value>, cap: usize, merge: &str) -> Value {
    json!({"sub_flows": nodes, "concurrency_max": cap, "merge_condition": merge})
}

async fn run_to_end(app: &TestApp, plan: &Value) -> Value {
    let (status, body) = app.post_json("/orchestrations", plan, &[]).await;
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().expect("run_id").to_string();
    eventually(Duration::from_secs(30), "the run to settle", || async {
        let (status, report) = app.get(&format!("/orchestrations/{run_id}")).await;
        (status == 200 && report["settled"] == true).then_some(report)
    })
    .await
}

fn states(report: &Value) -> HashMap<String, String> {
    report["sub_flows"]
        .as_array()
        .expect("sub_flows")
        .iter()
        .map(|s| {
            (
                s["sub_flow_id"].as_str().unwrap_or("").to_string(),
                s["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[actix_rt::test]
async fn dependencies_are_respected_and_the_cap_holds_by_the_sandboxs_clock() {
    let app = spawn_app().await;
    // Three layers: 0..4 roots, 4..8 each depend on two roots, 8..10 depend on layer two.
    let mut nodes: Vec<Value> = (0..4).map(|n| node(n, &[], 80, "succeeded")).collect();
    nodes.extend((4..8).map(|n| node(n, &[n - 4, (n - 3) % 4], 80, "succeeded")));
    nodes.extend((8..10).map(|n| node(n, &[n - 4, n - 3], 80, "succeeded")));
    let deps: HashMap<String, Vec<String>> = nodes
        .iter()
        .map(|n| {
            let d = n["depends_on"]
                .as_array()
                .expect("deps")
                .iter()
                .map(|x| x.as_str().unwrap_or("").to_string())
                .collect();
            (n["id"].as_str().unwrap_or("").to_string(), d)
        })
        .collect();
    let report = run_to_end(&app, &plan(nodes, 3, "ALL")).await;
    assert_eq!(report["outcome"], "satisfied", "{report}");
    assert_eq!(report["status"], "completed");
    assert!(report["throughput_per_sec"]
        .as_f64()
        .is_some_and(|t| t > 0.0));

    let state = app.sandbox_state().await;
    let times: HashMap<String, (u64, u64)> = state["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .map(|e| {
            (
                e["data_action_id"].as_str().unwrap_or("").to_string(),
                (
                    e["started_at_ms"].as_u64().unwrap_or(0),
                    e["completed_at_ms"].as_u64().unwrap_or(u64::MAX),
                ),
            )
        })
        .collect();
    assert_eq!(times.len(), 10, "each sub-flow executed once");
    for (node, ds) in &deps {
        for d in ds {
            assert!(
                times[node].0 >= times[d].1,
                "{node} started before its dependency {d} completed"
            );
        }
    }
    let mut edges: Vec<(u64, i32)> = times
        .values()
        .flat_map(|(s, e)| [(*s, 1), (*e, -1)])
        .collect();
    edges.sort_by_key(|(t, delta)| (*t, *delta));
    let (mut now, mut peak) = (0, 0);
    for (_, delta) in edges {
        now += delta;
        peak = peak.max(now);
    }
    assert!(peak <= 3, "at most 3 executions overlapped, saw {peak}");
    assert_eq!(peak, 3, "the cap was used");
}

#[actix_rt::test]
async fn a_failed_sub_flow_skips_its_dependents_and_all_cancels_what_had_not_started() {
    let app = spawn_app().await;
    let nodes = vec![
        node(0, &[], 30, "failed"),
        node(1, &[0], 30, "succeeded"),
        node(2, &[1], 30, "succeeded"),
        node(3, &[], 300, "succeeded"),
    ];
    let report = run_to_end(&app, &plan(nodes, 1, "ALL")).await;
    assert_eq!(report["outcome"], "unsatisfied");
    let s = states(&report);
    assert_eq!(s[&id(0)], "failed");
    assert_eq!(s[&id(1)], "skipped");
    assert_eq!(s[&id(2)], "skipped");
    assert_eq!(
        s[&id(3)],
        "cancelled",
        "cap 1: it had not started when ALL was decided"
    );
    let executed: Vec<String> = app.sandbox_state().await["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .map(|e| e["data_action_id"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        executed,
        vec![id(0)],
        "skipped and cancelled sub-flows never executed"
    );
}

#[actix_rt::test]
async fn any_is_satisfied_at_the_first_success_and_none_only_when_nothing_succeeded() {
    let app = spawn_app().await;
    let any = run_to_end(
        &app,
        &plan(
            vec![
                node(0, &[], 20, "succeeded"),
                node(1, &[], 20, "failed"),
                node(2, &[0], 20, "succeeded"),
            ],
            1,
            "ANY",
        ),
    )
    .await;
    assert_eq!(any["outcome"], "satisfied");
    let s = states(&any);
    assert_eq!(
        (s[&id(0)].as_str(), s[&id(1)].as_str(), s[&id(2)].as_str()),
        ("succeeded", "cancelled", "cancelled")
    );

    let none_ok = run_to_end(
        &app,
        &plan(
            vec![node(0, &[], 20, "failed"), node(1, &[], 20, "failed")],
            2,
            "NONE",
        ),
    )
    .await;
    assert_eq!(none_ok["outcome"], "satisfied");
    let none_bad = run_to_end(
        &app,
        &plan(
            vec![node(0, &[], 20, "succeeded"), node(1, &[0], 20, "failed")],
            2,
            "NONE",
        ),
    )
    .await;
    assert_eq!(none_bad["outcome"], "unsatisfied");
    assert_eq!(states(&none_bad)[&id(1)], "cancelled");
}

#[actix_rt::test]
async fn completion_comes_by_webhook_without_polling() {
    let app = spawn_app_with(|s| s.orchestration.poll_after_ms = 60_000).await;
    let report = run_to_end(
        &app,
        &plan(
            (0..4).map(|n| node(n, &[], 30, "succeeded")).collect(),
            4,
            "ALL",
        ),
    )
    .await;
    assert_eq!(report["outcome"], "satisfied");
    let state = app.sandbox_state().await;
    assert!(
        state["requests"]
            .as_object()
            .expect("requests")
            .keys()
            .all(|k| !k.starts_with("GET /api/v1/executions")),
        "no status poll: {}",
        state["requests"]
    );
}

#[actix_rt::test]
async fn each_execution_is_posted_with_the_idempotency_key_of_its_run_and_sub_flow() {
    let app = spawn_app().await;
    let report = run_to_end(
        &app,
        &plan(
            (0..3).map(|n| node(n, &[], 10, "succeeded")).collect(),
            3,
            "ALL",
        ),
    )
    .await;
    assert_eq!(report["outcome"], "satisfied");
    let run_id = report["run_id"].as_str().expect("run_id");
    let bearer = app.sandbox_bearer().await;
    let executions = |state: Value| state["executions"].as_array().map_or(0, Vec::len);
    assert_eq!(executions(app.sandbox_state().await), 3);
    for sub_flow in report["sub_flows"].as_array().expect("sub_flows") {
        let id = sub_flow["sub_flow_id"].as_str().expect("sub_flow_id");
        // What the service would send again after a crash: the same key.
        let mut resp = app
            .http
            .post(format!(
                "{}/api/v1/data-actions/{id}/executions",
                app.sandbox_url
            ))
            .insert_header(("Authorization", bearer.as_str()))
            .insert_header(("Idempotency-Key", format!("{run_id}:{id}")))
            .send_json(&json!({"input": {}}))
            .await
            .expect("execute");
        assert_eq!(resp.status().as_u16(), 202);
        assert_eq!(
            resp.headers()
                .get("idempotent-replayed")
                .and_then(|v| v.to_str().ok()),
            Some("true"),
            "the service posted {id} with this key"
        );
        let body: Value = resp.json().await.expect("json");
        assert_eq!(body["execution_id"], sub_flow["execution_id"]);
    }
    assert_eq!(
        executions(app.sandbox_state().await),
        3,
        "no execution twice"
    );
}

#[actix_rt::test]
async fn completion_comes_by_polling_when_webhooks_are_dropped() {
    let app = spawn_app_with(|s| {
        s.orchestration.poll_after_ms = 200;
        s.orchestration.poll_interval_ms = 100;
    })
    .await;
    app.set_faults(json!({"drop_webhooks": true})).await;
    let report = run_to_end(
        &app,
        &plan(
            (0..3).map(|n| node(n, &[], 30, "succeeded")).collect(),
            3,
            "ALL",
        ),
    )
    .await;
    assert_eq!(report["outcome"], "satisfied");
    let state = app.sandbox_state().await;
    assert!(
        state["requests"]["GET /api/v1/executions/{execution_id} 200"]
            .as_u64()
            .unwrap_or(0)
            >= 3,
        "{}",
        state["requests"]
    );
}

#[actix_rt::test]
async fn duplicate_and_early_completion_events_change_nothing() {
    let app = spawn_app().await;
    let report = run_to_end(
        &app,
        &plan(
            vec![
                node(0, &[], 20, "succeeded"),
                node(1, &[0], 20, "succeeded"),
            ],
            1,
            "ALL",
        ),
    )
    .await;
    let execution = report["sub_flows"][0]["execution_id"]
        .as_str()
        .expect("execution")
        .to_string();
    let event = |event_id: &str, execution: &str, status: &str| json!({"event_id": event_id, "source": "test", "data": {"subFlowId": id(0), "executionId": execution, "status": status}, "timestamp": "2026-11-21T10:00:00Z"});
    let (status, body) = app
        .post_json(
            "/cxone/webhook",
            &event("late-1", &execution, "failed"),
            &[],
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("duplicate")),
        "{body}"
    );
    let (_, body) = app
        .post_json(
            "/cxone/webhook",
            &event("early-1", "not-started-yet", "completed"),
            &[],
        )
        .await;
    assert_eq!(body["status"], "buffered");
    let (_, body) = app
        .post_json(
            "/cxone/webhook",
            &event("early-1", "not-started-yet", "completed"),
            &[],
        )
        .await;
    assert_eq!(body["status"], "duplicate");
    let (_, after) = app
        .get(&format!(
            "/orchestrations/{}",
            report["run_id"].as_str().expect("run")
        ))
        .await;
    assert_eq!(
        after["sub_flows"], report["sub_flows"],
        "the report did not change"
    );
    let (status, body) = app
        .post_json("/cxone/webhook", &json!({"data": {}}), &[])
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_event"))
    );
}

#[actix_rt::test]
async fn sandbox_429s_slow_the_run_but_every_sub_flow_completes() {
    // Twelve attempts per call: a sub-flow failing on 429s alone has a chance of 30 × 0.4^12.
    let app = spawn_app_with(|s| s.cxone.max_attempts = 12).await;
    // 31 calls or more at 40%: no 429 at all has a chance of 0.6^31 ≈ 1e-7.
    // 30 executions or more at 40%: no 429 at all has a chance of 0.6^30, about 2e-7.
    app.set_faults(json!({"throttle_rate": 0.4})).await;
    let report = run_to_end(
        &app,
        &plan(
            (0..30).map(|n| node(n, &[], 20, "succeeded")).collect(),
            4,
            "ALL",
        ),
    )
    .await;
    assert_eq!(report["outcome"], "satisfied", "{report}");
    let state = app.sandbox_state().await;
    let throttled: u64 = state["requests"]
        .as_object()
        .expect("requests")
        .iter()
        .filter(|(k, _)| k.ends_with(" 429"))
        .filter_map(|(_, v)| v.as_u64())
        .sum();
    assert!(throttled > 0, "{}", state["requests"]);
}

#[actix_rt::test]
async fn each_validation_error_kind_is_reported_by_http_and_by_plan_validate() {
    let app = spawn_app().await;
    let cases = [
        (
            json!({"sub_flows": [], "concurrency_max": 1, "merge_condition": "ALL"}),
            "empty",
        ),
        (
            json!({"sub_flows": [{"id": "x"}], "concurrency_max": 1, "merge_condition": "ALL"}),
            "invalid_id",
        ),
        (
            json!({"sub_flows": [{"id": id(1)}, {"id": id(1)}], "concurrency_max": 1, "merge_condition": "ALL"}),
            "duplicate_id",
        ),
        (
            json!({"sub_flows": [{"id": id(1), "depends_on": [id(2)]}], "concurrency_max": 1, "merge_condition": "ALL"}),
            "unknown_dependency",
        ),
        (
            json!({"sub_flows": [{"id": id(1), "depends_on": [id(1)]}], "concurrency_max": 1, "merge_condition": "ALL"}),
            "self_dependency",
        ),
        (
            json!({"sub_flows": [{"id": id(1), "depends_on": [id(2)]}, {"id": id(2), "depends_on": [id(1)]}], "concurrency_max": 1, "merge_condition": "ALL"}),
            "cycle",
        ),
        (
            json!({"sub_flows": [{"id": id(1)}], "concurrency_max": 0, "merge_condition": "ALL"}),
            "concurrency_out_of_range",
        ),
        (
            json!({"sub_flows": [{"id": id(1)}], "concurrency_max": 1, "merge_condition": "MOST"}),
            "invalid_merge_condition",
        ),
    ];
    for (i, (body, kind)) in cases.iter().enumerate() {
        let (status, resp) = app.post_json("/orchestrations", body, &[]).await;
        assert_eq!(
            (status, resp["error"].as_str()),
            (400, Some("invalid_plan")),
            "{body} → {resp}"
        );
        assert_eq!(resp["details"][0]["kind"], *kind, "{resp}");
        let file = app.dir.join(format!("plan-{i}.json"));
        std::fs::write(&file, body.to_string()).expect("write");
        let file = file.display().to_string();
        let (code, _, err) = cli(&app, &["plan", "validate", &file], &[]).await;
        assert_eq!(code, 1, "{kind}");
        assert_eq!(err["details"][0]["kind"], *kind);
    }
    let big: Vec<Value> = (0..3).map(|n| json!({"id": id(n)})).collect();
    let app = spawn_app_with(|s| s.orchestration.max_sub_flows = 2).await;
    let (_, resp) = app
        .post_json("/orchestrations", &plan(big, 1, "ALL"), &[])
        .await;
    assert_eq!(resp["details"][0]["kind"], "too_many_sub_flows");
    let (status, _) = app
        .get("/orchestrations/00000000-0000-0000-0000-000000000000")
        .await;
    assert_eq!(status, 404);
    let ok = app.dir.join("ok.json");
    std::fs::write(
        &ok,
        plan(vec![node(0, &[], 10, "succeeded")], 1, "ALL").to_string(),
    )
    .expect("write");
    let ok = ok.display().to_string();
    assert_eq!(cli(&app, &["plan", "validate", &ok], &[]).await.0, 0);
    assert_eq!(
        app.sandbox_state().await["executions"],
        json!([]),
        "validation sends nothing"
    );
}

#[actix_rt::test]
async fn the_orchestrate_cli_runs_a_plan_and_exits_by_its_outcome() {
    let app = spawn_app().await;
    let run = |plan_value: Value, name: &str| {
        let file = app.dir.join(format!("{name}.json"));
        let out_file = app.dir.join(format!("{name}-report.json"));
        std::fs::write(&file, plan_value.to_string()).expect("write");
        let app = &app;
        async move {
            let (file, out) = (file.display().to_string(), out_file.display().to_string());
            let args = ["orchestrate", file.as_str(), "--out", out.as_str()];
            let (code, _, _) = cli(
                app,
                &args,
                &[("SWITCHBOARD__ORCHESTRATION__POLL_INTERVAL_MS", "50")],
            )
            .await;
            let written: Value =
                serde_json::from_slice(&std::fs::read(&out_file).unwrap_or_default())
                    .unwrap_or(Value::Null);
            (Some(code), written)
        }
    };
    let (code, report) = run(
        plan(
            vec![
                node(0, &[], 20, "succeeded"),
                node(1, &[0], 20, "succeeded"),
            ],
            2,
            "ALL",
        ),
        "good",
    )
    .await;
    assert_eq!(code, Some(0), "{report}");
    assert_eq!(report["outcome"], "satisfied");
    let (code, report) = run(plan(vec![node(0, &[], 20, "failed")], 1, "ALL"), "bad").await;
    assert_eq!(code, Some(1));
    assert_eq!(report["outcome"], "unsatisfied");
}

#[actix_rt::test]
async fn a_plan_of_the_maximum_size_is_accepted_beyond_the_general_body_limit() {
    let app = spawn_app().await;
    // 10 000 sub-flows with a cycle at the end: validated in full, refused without running.
    let mut nodes: Vec<Value> = (0..10_000)
        .map(|n| json!({"id": id(n), "depends_on": if n > 0 { vec![id(n - 1)] } else { vec![] }, "input_data": {"note": "x".repeat(100)}}))
        .collect();
    nodes[0]["depends_on"] = json!([id(9_999)]);
    let body = plan(nodes, 50, "ALL");
    assert!(
        body.to_string().len() > 1 << 20,
        "larger than server.max_body_bytes"
    );
    let (status, resp) = app.post_json("/orchestrations", &body, &[]).await;
    assert_eq!(
        (status, resp["error"].as_str()),
        (400, Some("invalid_plan")),
        "{}",
        resp["message"]
    );
    assert_eq!(resp["details"][0]["kind"], "cycle");
}
