//! `POST /sandbox/emit` against a receiver bound on port 0 that records what it gets.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{serve_on_port_0, spawn_sandbox};
use crate::signing::sign;
use crate::SandboxOptions;

/// What the test receiver saw: webhook headers and the raw body.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: Option<String>,
    content_type: String,
    body: String,
}

type Inbox = Arc<Mutex<Vec<Received>>>;

fn header(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Records the delivery; answers 503 to low-priority events and 200 to the rest.
async fn receive(req: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let body = String::from_utf8_lossy(&body).into_owned();
    let low = serde_json::from_str::<Value>(&body)
        .is_ok_and(|event| event["payload"]["priority"] == "low");
    inbox.lock().expect("inbox").push(Received {
        id: header(&req, "webhook-id").unwrap_or_default(),
        timestamp: header(&req, "webhook-timestamp").unwrap_or_default(),
        signature: header(&req, "webhook-signature"),
        content_type: header(&req, "content-type").unwrap_or_default(),
        body,
    });
    if low {
        HttpResponse::ServiceUnavailable().finish()
    } else {
        HttpResponse::Ok().finish()
    }
}

async fn spawn_receiver() -> (String, Inbox, actix_web::dev::ServerHandle) {
    let inbox: Inbox = Arc::default();
    let data = web::Data::new(inbox.clone());
    let (port, handle) = serve_on_port_0(move |cfg| {
        cfg.app_data(data.clone())
            .route("/hook", web::post().to(receive));
    });
    (format!("http://127.0.0.1:{port}/hook"), inbox, handle)
}

#[actix_rt::test]
async fn emit_posts_unique_signed_events_and_reports_their_statuses() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let (target_url, inbox, receiver) = spawn_receiver().await;
    let request = json!({"target_url": target_url, "count": 40, "concurrency": 8, "secret": "s3cret", "seed": 9});
    let (status, report) = app.admin("POST", "/sandbox/emit", Some(request)).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["sent"], 40);

    let received = inbox.lock().expect("inbox").clone();
    assert_eq!(received.len(), 40);
    let ids: HashSet<&str> = received.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids.len(), 40, "webhook-id is unique per event");
    let mut low = 0;
    for delivery in &received {
        assert_eq!(delivery.content_type, "application/json");
        let timestamp: i64 = delivery.timestamp.parse().expect("unix seconds");
        let key = crate::signing::SigningKey::from_secret("s3cret").expect("key");
        let expected = sign(&key, &delivery.id, timestamp, delivery.body.as_bytes());
        assert_eq!(delivery.signature.as_deref(), Some(expected.as_str()));
        let event: Value = serde_json::from_str(&delivery.body).expect("JSON event");
        assert!(event["dataActionId"].is_string());
        low += usize::from(event["payload"]["priority"] == "low");
    }
    let ok = 40 - low;
    assert_eq!(report["statuses"]["200"].as_u64().unwrap_or(0), ok as u64);
    assert_eq!(report["statuses"]["503"].as_u64().unwrap_or(0), low as u64);
    assert_eq!(report["statuses"]["error"], 0);
    let p50 = report["latency_ms"]["p50"].as_f64().expect("p50");
    let max = report["latency_ms"]["max"].as_f64().expect("max");
    assert!(p50 > 0.0 && p50 <= max);

    // The same seed generates the same events again (a redelivery).
    let again = json!({"target_url": target_url, "count": 40, "seed": 9});
    let (status, _) = app.admin("POST", "/sandbox/emit", Some(again)).await;
    assert_eq!(status, 200);
    let all = inbox.lock().expect("inbox").clone();
    let first: HashSet<String> = all[..40].iter().map(|r| event_id(&r.body)).collect();
    let second: HashSet<String> = all[40..].iter().map(|r| event_id(&r.body)).collect();
    assert_eq!(first, second);
    assert!(all[40..].iter().all(|r| r.signature.is_none()));
    receiver.stop(true).await;
    app.sandbox.stop().await;
}

fn event_id(body: &str) -> String {
    let event: Value = serde_json::from_str(body).expect("JSON event");
    event["dataActionId"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[actix_rt::test]
async fn emit_rejects_a_bad_body_and_counts_unreachable_targets_as_errors() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let (status, body) = app
        .admin(
            "POST",
            "/sandbox/emit",
            Some(json!({"target_url": "http://127.0.0.1:1/", "count": 0})),
        )
        .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_emit"))
    );
    assert!(body["message"]
        .as_str()
        .is_some_and(|m| m.contains("count")));

    // Port 1 on loopback refuses connections: a transport error per event.
    let (status, report) = app
        .admin(
            "POST",
            "/sandbox/emit",
            Some(json!({"target_url": "http://127.0.0.1:1/", "count": 3})),
        )
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["statuses"], json!({"error": 3}));
    let state = app.state().await;
    assert_eq!(state["requests"], json!({}), "admin calls are not counted");
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn emit_with_a_whsec_secret_signs_as_the_reference_library_does() {
    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let (target_url, inbox, receiver) = spawn_receiver().await;
    let request = json!({"target_url": target_url, "count": 5, "secret": SECRET, "seed": 3});
    let (status, report) = app.admin("POST", "/sandbox/emit", Some(request)).await;
    assert_eq!(status, 200, "{report}");
    let reference = standardwebhooks::Webhook::new(SECRET).expect("reference secret");
    let received = inbox.lock().expect("inbox").clone();
    assert_eq!(received.len(), 5);
    for delivery in &received {
        let timestamp: i64 = delivery.timestamp.parse().expect("unix seconds");
        let expected = reference
            .sign(&delivery.id, timestamp, delivery.body.as_bytes())
            .expect("reference signature");
        assert_eq!(delivery.signature.as_deref(), Some(expected.as_str()));
    }
    receiver.stop(true).await;
    app.sandbox.stop().await;
}
