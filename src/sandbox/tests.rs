//! HTTP tests: a real sandbox on port 0, driven with awc.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use serde_json::{json, Value};

use super::events::sign;
use super::{Sandbox, SandboxOptions, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};

const ACK: &str = "/api/v2/data/actions";

/// An API answer: status, `Retry-After` header and JSON body (`null` if not JSON).
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

struct TestSandbox {
    sandbox: Sandbox,
    client: awc::Client,
}

impl TestSandbox {
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.sandbox.base_url(), path)
    }

    async fn post_form(&self, form: &str, basic: Option<(&str, &str)>) -> (u16, Value) {
        let mut request = self
            .client
            .post(self.url("/oauth/token"))
            .content_type("application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, secret);
        }
        let mut response = request.send_body(form.to_owned()).await.expect("token call");
        let body = response.json::<Value>().await.expect("JSON body");
        (response.status().as_u16(), body)
    }

    async fn token(&self) -> String {
        let form = format!(
            "grant_type=client_credentials&client_id={DEFAULT_CLIENT_ID}&client_secret={DEFAULT_CLIENT_SECRET}"
        );
        let (status, body) = self.post_form(&form, None).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    async fn acknowledge(&self, token: &str, id: &str) -> Answer {
        let mut response = self
            .client
            .post(self.url(&format!("{ACK}/{id}/acknowledge")))
            .bearer_auth(token)
            .send()
            .await
            .expect("acknowledge call");
        Answer {
            status: response.status().as_u16(),
            retry_after: response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body: response.json::<Value>().await.unwrap_or(Value::Null),
        }
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let request = match method {
            "GET" => self.client.get(self.url(path)),
            _ => self.client.post(self.url(path)),
        }
        .timeout(Duration::from_secs(20));
        let mut response = match body {
            Some(body) => request.send_json(&body).await,
            None => request.send().await,
        }
        .expect("admin call");
        let value = response.json::<Value>().await.expect("JSON body");
        (response.status().as_u16(), value)
    }

    async fn state(&self) -> Value {
        self.admin("GET", "/sandbox/state", None).await.1
    }
}

async fn spawn_sandbox(options: SandboxOptions) -> TestSandbox {
    let options = SandboxOptions {
        bind: "127.0.0.1:0".to_owned(),
        ..options
    };
    let sandbox = Sandbox::start(options).await.expect("sandbox starts");
    assert_ne!(sandbox.port(), 0);
    TestSandbox {
        sandbox,
        client: awc::Client::default(),
    }
}

#[actix_rt::test]
async fn token_endpoint_issues_tokens_for_form_basic_and_password_credentials() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let form = "grant_type=client_credentials&client_id=switchboard&client_secret=switchboard-sandbox-secret&scope=data-actions%3Awrite";
    let (status, body) = app.post_form(form, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "data-actions:write");
    assert!(body["access_token"].as_str().is_some_and(|t| t.len() >= 32));

    let basic = Some((DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET));
    let (status, _) = app.post_form("grant_type=client_credentials", basic).await;
    assert_eq!(status, 200);
    let password = "grant_type=password&username=AKID&password=access-secret";
    let (status, body) = app.post_form(password, basic).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("scope").is_none());

    let state = app.state().await;
    assert_eq!(state["tokens_issued"], 3);
    assert_eq!(state["requests"]["POST /oauth/token 200"], 3);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn token_endpoint_rejects_bad_credentials_json_bodies_and_unknown_grants() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let (status, body) = app
        .post_form("grant_type=client_credentials&client_id=switchboard&client_secret=wrong", None)
        .await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")));
    let (status, _) = app
        .post_form("grant_type=client_credentials", Some(("switchboard", "wrong")))
        .await;
    assert_eq!(status, 401);
    let (status, body) = app
        .post_form("grant_type=password&username=&password=x", Some(("switchboard", "switchboard-sandbox-secret")))
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")));
    let (status, body) = app.post_form("grant_type=implicit", None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unsupported_grant_type")));

    let mut response = app
        .client
        .post(app.url("/oauth/token"))
        .send_json(&json!({"grant_type": "client_credentials", "client_id": DEFAULT_CLIENT_ID, "client_secret": DEFAULT_CLIENT_SECRET}))
        .await
        .expect("token call");
    assert_eq!(response.status().as_u16(), 400);
    let body = response.json::<Value>().await.expect("JSON");
    assert_eq!(body["error"], "invalid_request");

    let state = app.state().await;
    assert_eq!(state["tokens_issued"], 0);
    assert_eq!(state["requests"]["POST /oauth/token 401"], 2);
    assert_eq!(state["requests"]["POST /oauth/token 400"], 3);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn acknowledge_answers_200_then_409_and_state_counts_one_per_id() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let first = app.acknowledge(&token, "evt-1").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.body, json!({"dataActionId": "evt-1", "acknowledged": true}));
    let second = app.acknowledge(&token, "evt-1").await;
    assert_eq!(second.status, 409);
    assert_eq!(second.body["error"], "already_acknowledged");
    let unauthorised = app.acknowledge("not-a-token", "evt-2").await;
    assert_eq!(unauthorised.status, 401);
    assert_eq!(unauthorised.body["error"], "invalid_token");

    let state = app.state().await;
    assert_eq!(state["acknowledgements"], json!({"evt-1": 1}));
    let requests = &state["requests"];
    assert_eq!(requests["POST /api/v2/data/actions/{id}/acknowledge 200"], 1);
    assert_eq!(requests["POST /api/v2/data/actions/{id}/acknowledge 409"], 1);
    assert_eq!(requests["POST /api/v2/data/actions/{id}/acknowledge 401"], 1);
    assert_eq!(state["executions"], json!([]));
    assert_eq!(state["exports"], json!({}));
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_small_rate_limit_answers_429_with_retry_after() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let (status, faults) = app
        .admin("POST", "/sandbox/faults", Some(json!({"rate_limit_per_minute": 3})))
        .await;
    assert_eq!((status, faults["rate_limit_per_minute"].as_u64()), (200, Some(3)));
    for i in 0..3 {
        let id = format!("burst-{i}");
        assert_eq!(app.acknowledge(&token, &id).await.status, 200);
    }
    let limited = app.acknowledge(&token, "burst-3").await;
    assert_eq!(limited.status, 429);
    let retry_after: u64 = limited
        .retry_after
        .and_then(|v| v.parse().ok())
        .expect("Retry-After header in whole seconds");
    // 3 per minute refills one token every 20 s.
    assert!((1..=20).contains(&retry_after), "retry after {retry_after}");
    assert_eq!(limited.body["error"], "rate_limited");

    // A new limit refills the bucket at once.
    app.admin("POST", "/sandbox/faults", Some(json!({"rate_limit_per_minute": 100})))
        .await;
    assert_eq!(app.acknowledge(&token, "burst-3").await.status, 200);
    let state = app.state().await;
    assert_eq!(state["requests"]["POST /api/v2/data/actions/{id}/acknowledge 429"], 1);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn a_token_is_refused_once_its_ttl_has_passed() {
    let options = SandboxOptions {
        token_ttl_secs: 1,
        ..SandboxOptions::default()
    };
    let app = spawn_sandbox(options).await;
    let token = app.token().await;
    let issued = Instant::now();
    assert_eq!(app.acknowledge(&token, "ttl-0").await.status, 200);
    let deadline = issued + Duration::from_secs(5);
    let mut attempt = 1;
    let expired_after = loop {
        let status = app.acknowledge(&token, &format!("ttl-{attempt}")).await.status;
        if status == 401 {
            break issued.elapsed();
        }
        assert_eq!(status, 200);
        assert!(Instant::now() < deadline, "token still valid after 5 s");
        attempt += 1;
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(expired_after >= Duration::from_millis(900), "expired after {expired_after:?}");
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn faults_are_validated_applied_and_reset() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let (status, body) = app
        .admin("POST", "/sandbox/faults", Some(json!({"latency": 5})))
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_faults")));
    assert!(body["message"].as_str().is_some_and(|m| m.contains("latency")));
    let (status, body) = app
        .admin("POST", "/sandbox/faults", Some(json!({"error_rate": "all"})))
        .await;
    assert_eq!(status, 400);
    assert!(body["message"].as_str().is_some_and(|m| m.contains("error_rate")));

    let token = app.token().await;
    let (status, faults) = app
        .admin("POST", "/sandbox/faults", Some(json!({"error_rate": 1.0, "client_secret": "rotated"})))
        .await;
    assert_eq!(status, 200);
    assert_eq!(faults["client_secret"], "rotated");
    assert_eq!(faults["rate_limit_per_minute"], 6000);
    let unavailable = app.acknowledge(&token, "e-1").await;
    assert_eq!(unavailable.status, 503);
    assert_eq!(unavailable.body["error"], "service_unavailable");
    let (status, _) = app.post_form("grant_type=client_credentials", Some(("switchboard", "switchboard-sandbox-secret"))).await;
    assert_eq!(status, 401);

    let (status, body) = app.admin("POST", "/sandbox/reset", None).await;
    assert_eq!((status, body), (200, json!({"status": "reset"})));
    let (_, faults) = app.admin("GET", "/sandbox/faults", None).await;
    assert_eq!(faults["error_rate"], 0.0);
    assert_eq!(faults["client_secret"], DEFAULT_CLIENT_SECRET);
    assert_eq!(app.state().await["requests"], json!({}));
    assert_eq!(app.acknowledge(&token, "e-1").await.status, 200);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn latency_is_added_before_the_handler_answers() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    app.admin("POST", "/sandbox/faults", Some(json!({"latency_ms": 150})))
        .await;
    let started = Instant::now();
    assert_eq!(app.acknowledge(&token, "slow").await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
    app.sandbox.stop().await;
}

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
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::post().to(receive))
    })
    .workers(1)
    .disable_signals()
    .bind("127.0.0.1:0")
    .expect("receiver binds");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
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
        let expected = sign("s3cret", &delivery.id, timestamp, delivery.body.as_bytes());
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
    event["dataActionId"].as_str().unwrap_or_default().to_owned()
}

#[actix_rt::test]
async fn emit_rejects_a_bad_body_and_counts_unreachable_targets_as_errors() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let (status, body) = app
        .admin("POST", "/sandbox/emit", Some(json!({"target_url": "http://127.0.0.1:1/", "count": 0})))
        .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_emit")));
    assert!(body["message"].as_str().is_some_and(|m| m.contains("count")));

    // Port 1 on loopback refuses connections: a transport error per event.
    let (status, report) = app
        .admin("POST", "/sandbox/emit", Some(json!({"target_url": "http://127.0.0.1:1/", "count": 3})))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["statuses"], json!({"error": 3}));
    let state = app.state().await;
    assert_eq!(state["requests"], json!({}), "admin calls are not counted");
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn unknown_routes_and_methods_answer_json_errors() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let mut response = app.client.get(app.url("/nope")).send().await.expect("call");
    assert_eq!(response.status().as_u16(), 404);
    assert_eq!(response.json::<Value>().await.expect("JSON")["error"], "not_found");
    let mut response = app.client.get(app.url("/oauth/token")).send().await.expect("call");
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.json::<Value>().await.expect("JSON")["error"], "method_not_allowed");
    app.sandbox.stop().await;
}
