//! Sub-flow executions, completion webhooks and webhook registration, against a receiver
//! bound on port 0.

use std::time::Duration;

use chrono::DateTime;
use serde_json::{json, Value};
use uuid::Uuid;

use super::receiver::Receiver;
use super::{eventually, spawn_sandbox, Reply, TestSandbox};
use crate::executions::now_ms;
use crate::SandboxOptions;

impl TestSandbox {
    async fn post_json(&self, token: &str, path: &str, body: Value) -> Reply {
        let body = body.to_string();
        self.send("POST", path, Some(token), &[], body.as_bytes())
            .await
    }

    async fn register(&self, token: &str, url: &str) -> Reply {
        let reply = self
            .post_json(token, "/api/v1/webhooks", json!({"url": url}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply
    }

    /// Starts an execution of `data_action_id` with `input.sandbox = sandbox`; returns its id.
    async fn execute(&self, token: &str, data_action_id: &str, sandbox: Value) -> String {
        let path = format!("/api/v1/data-actions/{data_action_id}/executions");
        let reply = self
            .post_json(token, &path, json!({"input": {"sandbox": sandbox}}))
            .await;
        assert_eq!(reply.status, 202, "{}", reply.body);
        reply.body["execution_id"]
            .as_str()
            .expect("execution_id")
            .to_owned()
    }

    async fn execution(&self, token: &str, id: &str) -> Reply {
        let path = format!("/api/v1/executions/{id}");
        self.send("GET", &path, Some(token), &[], b"").await
    }

    /// Waits until the execution's status answer says it ended; returns that answer.
    async fn ended(&self, token: &str, id: &str) -> Value {
        let (timeout, interval) = (Duration::from_secs(10), Duration::from_millis(10));
        let what = format!("{id} to end");
        eventually(timeout, interval, &what, || async {
            let reply = self.execution(token, id).await;
            if reply.body["status"] != "running" {
                Ok(reply.body)
            } else {
                Err(reply.body)
            }
        })
        .await
    }
}

fn execution_ids(deliveries: &[super::receiver::Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| {
            d.body["data"]["executionId"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[actix_rt::test]
async fn an_execution_answers_202_runs_then_ends_and_sends_its_completion_webhook() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let receiver = Receiver::spawn(0).await;
    let token = app.token().await;
    let registered = app.register(&token, &receiver.url("/hook")).await;
    assert_eq!(registered.body["url"], receiver.url("/hook"));
    assert_eq!(registered.body["events"], json!([]));
    assert!(Uuid::parse_str(registered.body["id"].as_str().unwrap_or("")).is_ok());

    let before_ms = now_ms();
    let path = "/api/v1/data-actions/sf-1/executions";
    let body = json!({"input": {"order": 7, "sandbox": {"latency_ms": 300}}});
    let reply = app.post_json(&token, path, body).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let id = reply.body["execution_id"].as_str().expect("id").to_owned();
    assert!(Uuid::parse_str(&id).is_ok());
    assert_eq!(reply.body, json!({"execution_id": id, "status": "running"}));
    let location = format!("/api/v1/executions/{id}");
    assert_eq!(reply.header("location"), Some(location.as_str()));

    let running = app.execution(&token, &id).await;
    assert_eq!(running.status, 200);
    assert_eq!(running.body["status"], "running");
    assert_eq!(running.body["data_action_id"], "sf-1");
    assert_eq!(running.body["completed_at_ms"], Value::Null);
    let listed = app.state().await["executions"].clone();
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["execution_id"], id.as_str());
    assert_eq!(listed[0]["status"], "running");
    assert_eq!(listed[0]["completed_at_ms"], Value::Null);

    let deliveries = receiver.wait_for(|d| !d.is_empty()).await;
    let event = &deliveries[0].body;
    assert_eq!(deliveries[0].path, "/hook");
    assert_eq!(event["source"], "cxone.sandbox");
    assert_eq!(
        event["data"],
        json!({"subFlowId": "sf-1", "executionId": id, "status": "completed"})
    );
    assert!(Uuid::parse_str(event["event_id"].as_str().unwrap_or("")).is_ok());
    assert!(DateTime::parse_from_rfc3339(event["timestamp"].as_str().unwrap_or("")).is_ok());

    let done = app.ended(&token, &id).await;
    assert_eq!(done["status"], "succeeded");
    let started = done["started_at_ms"].as_u64().expect("started_at_ms");
    let completed = done["completed_at_ms"].as_u64().expect("completed_at_ms");
    assert!(started >= before_ms && started <= before_ms + 250, "{done}");
    assert!(completed >= started + 300, "{done}");
    assert!(
        completed <= deliveries[0].received_at_ms,
        "stamped before the webhook"
    );
    let state = app.state().await;
    assert_eq!(state["executions"][0], done);
    assert_eq!(
        state["requests"]["POST /api/v1/data-actions/{id}/executions 202"],
        1
    );
    assert_eq!(state["requests"]["POST /api/v1/webhooks 201"], 1);
    receiver.stop().await;
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_failed_execution_is_reported_once_to_every_registered_url() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let receiver = Receiver::spawn(0).await;
    let token = app.token().await;
    let first = app.register(&token, &receiver.url("/a")).await;
    app.register(&token, &receiver.url("/b")).await;
    let again = app.register(&token, &receiver.url("/a")).await;
    assert_ne!(first.body["id"], again.body["id"]);
    let list = app
        .send("GET", "/api/v1/webhooks", Some(&token), &[], b"")
        .await;
    assert_eq!(list.status, 200);
    let urls: Vec<&str> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|r| r["url"].as_str())
        .collect();
    assert_eq!(urls, [receiver.url("/a"), receiver.url("/b")]);

    let id = app
        .execute(
            &token,
            "sf-2",
            json!({"latency_ms": 0, "outcome": "failed"}),
        )
        .await;
    let deliveries = receiver.wait_for(|d| d.len() >= 2).await;
    let mut paths: Vec<&str> = deliveries.iter().map(|d| d.path.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["/a", "/b"]);
    for delivery in &deliveries {
        assert_eq!(delivery.body["data"]["status"], "failed");
        assert_eq!(delivery.body["data"]["executionId"], id.as_str());
        assert_eq!(delivery.body["data"]["subFlowId"], "sf-2");
    }
    assert_eq!(app.ended(&token, &id).await["status"], "failed");
    receiver.stop().await;
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn drop_webhooks_ends_executions_without_sending_their_webhooks() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let receiver = Receiver::spawn(0).await;
    let token = app.token().await;
    app.register(&token, &receiver.url("/hook")).await;
    app.admin(
        "POST",
        "/sandbox/faults",
        Some(json!({"drop_webhooks": true})),
    )
    .await;
    let dropped = app.execute(&token, "sf-3", json!({"latency_ms": 0})).await;
    let ended = app.ended(&token, &dropped).await;
    assert_eq!(ended["status"], "succeeded");
    assert!(ended["completed_at_ms"].is_u64());

    // The dropped one decided not to send when it ended; a later one is sent.
    app.admin(
        "POST",
        "/sandbox/faults",
        Some(json!({"drop_webhooks": false})),
    )
    .await;
    let sent = app.execute(&token, "sf-3", json!({"latency_ms": 0})).await;
    let deliveries = receiver.wait_for(|d| !d.is_empty()).await;
    assert_eq!(execution_ids(&deliveries), [sent]);
    receiver.stop().await;
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_refused_webhook_is_retried_with_the_same_event() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let receiver = Receiver::spawn(2).await;
    let token = app.token().await;
    app.register(&token, &receiver.url("/hook")).await;
    let id = app.execute(&token, "sf-4", json!({"latency_ms": 0})).await;
    let deliveries = receiver.wait_for(|d| d.len() >= 3).await;
    assert_eq!(deliveries.len(), 3, "delivered on the third attempt");
    assert!(deliveries.iter().all(|d| d.body == deliveries[0].body));
    assert_eq!(deliveries[0].body["data"]["executionId"], id.as_str());
    let gap = deliveries[1].received_at_ms - deliveries[0].received_at_ms;
    assert!(gap >= 190, "first retry after about 200 ms, got {gap} ms");
    receiver.stop().await;
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_slow_execution_does_not_delay_the_others() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let receiver = Receiver::spawn(0).await;
    let token = app.token().await;
    app.register(&token, &receiver.url("/hook")).await;
    let slow = app
        .execute(&token, "slow", json!({"latency_ms": 5000}))
        .await;
    let mut fast = Vec::new();
    for i in 0..20 {
        fast.push(
            app.execute(&token, &format!("fast-{i}"), json!({"latency_ms": 100}))
                .await,
        );
    }
    let deliveries = receiver.wait_for(|d| d.len() >= 20).await;
    let mut delivered = execution_ids(&deliveries);
    delivered.sort();
    fast.sort();
    assert_eq!(delivered, fast);
    assert_eq!(app.execution(&token, &slow).await.body["status"], "running");
    let listed = app.state().await["executions"].clone();
    assert_eq!(listed.as_array().map(Vec::len), Some(21));
    assert_eq!(
        listed[0]["execution_id"],
        slow.as_str(),
        "listed in start order"
    );
    receiver.stop().await;
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn started_at_is_when_the_request_arrived_even_with_injected_latency() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    app.admin("POST", "/sandbox/faults", Some(json!({"latency_ms": 400})))
        .await;
    let before_ms = now_ms();
    let id = app.execute(&token, "sf-5", json!({"latency_ms": 0})).await;
    let listed = app.state().await["executions"][0].clone();
    assert_eq!(listed["execution_id"], id.as_str());
    let started = listed["started_at_ms"].as_u64().expect("started_at_ms");
    assert!(
        started < before_ms + 300,
        "started {started}, sent at {before_ms}"
    );
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn bad_execution_and_webhook_requests_are_refused_and_unknown_ids_answer_404() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let path = "/api/v1/data-actions/sf/executions";
    let unauthorised = app.send("POST", path, None, &[], b"{}").await;
    assert_eq!(unauthorised.status, 401);
    let bad = app
        .post_json(
            &token,
            path,
            json!({"input": {"sandbox": {"outcome": "maybe"}}}),
        )
        .await;
    assert_eq!(
        (bad.status, bad.body["error"].as_str()),
        (400, Some("invalid_execution"))
    );
    assert!(bad.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("input.sandbox.outcome")));
    let malformed = app.send("POST", path, Some(&token), &[], b"{nope").await;
    assert_eq!(
        (malformed.status, malformed.body["error"].as_str()),
        (400, Some("malformed_json"))
    );
    let unknown = app.execution(&token, "no-such-execution").await;
    assert_eq!(
        (unknown.status, unknown.body["error"].as_str()),
        (404, Some("not_found"))
    );
    assert!(unknown.body["message"].is_string());

    let https = app
        .post_json(&token, "/api/v1/webhooks", json!({"url": "https://h/x"}))
        .await;
    assert_eq!(
        (https.status, https.body["error"].as_str()),
        (400, Some("invalid_webhook"))
    );
    assert!(https.body["message"]
        .as_str()
        .is_some_and(|m| m.contains("url")));
    let events = json!({"url": "http://h/x", "events": [1]});
    let bad_events = app.post_json(&token, "/api/v1/webhooks", events).await;
    assert_eq!(bad_events.status, 400);
    assert_eq!(app.state().await["executions"], json!([]));
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn reset_clears_executions_and_webhooks_and_forgets_running_ones() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let receiver = Receiver::spawn(0).await;
    let token = app.token().await;
    app.register(&token, &receiver.url("/old")).await;
    let forgotten = app
        .execute(&token, "sf-6", json!({"latency_ms": 200}))
        .await;
    app.admin("POST", "/sandbox/reset", None).await;
    assert_eq!(app.state().await["executions"], json!([]));
    let list = app
        .send("GET", "/api/v1/webhooks", Some(&token), &[], b"")
        .await;
    assert_eq!(list.body, json!([]));
    assert_eq!(app.execution(&token, &forgotten).await.status, 404);

    // Registered after the reset: only the new execution (ending later) reaches it.
    app.register(&token, &receiver.url("/new")).await;
    let kept = app
        .execute(&token, "sf-6", json!({"latency_ms": 600}))
        .await;
    let deliveries = receiver.wait_for(|d| !d.is_empty()).await;
    assert_eq!(execution_ids(&deliveries), [kept]);
    assert_eq!(deliveries[0].path, "/new");
    receiver.stop().await;
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn an_execute_repeated_with_its_idempotency_key_returns_the_same_execution_once() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let path = "/api/v1/data-actions/sf-idem/executions";
    let body = json!({"input": {"sandbox": {"latency_ms": 0}}}).to_string();
    let post = |key: &'static str| {
        let headers = [("Idempotency-Key", key)];
        let app = &app;
        let (token, body) = (token.clone(), body.clone());
        async move {
            app.send("POST", path, Some(&token), &headers, body.as_bytes())
                .await
        }
    };
    let first = post("run-1:sf-idem").await;
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post("run-1:sf-idem").await;
    assert_eq!(again.status, 202);
    assert_eq!(again.body, first.body, "the same execution");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), first.header("location"));
    let other = post("run-2:sf-idem").await;
    assert_ne!(other.body["execution_id"], first.body["execution_id"]);
    let executions = app.state().await["executions"]
        .as_array()
        .map(|a| a.len())
        .unwrap_or_default();
    assert_eq!(executions, 2, "a replay is not a new execution");
    // A delta request with the same key text is another request.
    let delta = app
        .send(
            "PATCH",
            "/api/v2/dataactions/records",
            Some(&token),
            &[("Idempotency-Key", "run-1:sf-idem")],
            b"{}",
        )
        .await;
    assert_eq!(delta.header("idempotent-replayed"), None);
}
