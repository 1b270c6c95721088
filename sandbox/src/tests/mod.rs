//! HTTP tests: a real sandbox on port 0, driven with awc.
//!
//! - `token`: the token endpoint and token expiry;
//! - `api`: acknowledgements, rate limit, faults (`throttle_rate` too), latency, unknown
//!   routes;
//! - `emit`: `POST /sandbox/emit` against a receiver bound on port 0;
//! - `deltas`: `PATCH /api/v2/dataactions/records` and `/sandbox/datastores/{id}`;
//! - `definitions`: `POST /api/v2/data-actions` and the `redirect_loop` fault;
//! - `executions`: sub-flow executions, completion webhooks (with `receiver`, a webhook
//!   receiver bound on port 0) and webhook registration;
//! - `exports`: `POST /sandbox/reports`, export jobs and paging through their records.

mod api;
mod definitions;
mod deltas;
mod emit;
mod executions;
mod exports;
mod receiver;
mod token;

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use actix_web::{web, App, HttpServer};
use serde_json::Value;

use super::{Sandbox, SandboxOptions, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};

const ACK: &str = "/api/v2/data/actions";

/// An API answer: status, `Retry-After` header and JSON body (`null` if not JSON).
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
}

/// Any answer: status, headers and the body, raw and as JSON (`null` if not JSON).
struct Reply {
    status: u16,
    headers: awc::http::header::HeaderMap,
    raw: Vec<u8>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
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
        let mut response = request
            .send_body(form.to_owned())
            .await
            .expect("token call");
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

    /// Sends `method path` with a bearer token, extra headers and a raw body; redirects are
    /// not followed.
    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let method = awc::http::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, self.url(path))
            .timeout(Duration::from_secs(20))
            .content_type("application/json");
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let mut response = request.send_body(body.to_vec()).await.expect("API call");
        let raw = response
            .body()
            .limit(64 * 1024 * 1024)
            .await
            .expect("body")
            .to_vec();
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
            raw,
        }
    }

    async fn state(&self) -> Value {
        self.admin("GET", "/sandbox/state", None).await.1
    }
}

/// Calls `check` every `interval` until it returns `Ok`, and returns that value; panics naming
/// `what` and the last `Err` once `timeout` has passed.
async fn eventually<T, E, F, Fut>(
    timeout: Duration,
    interval: Duration,
    what: &str,
    mut check: F,
) -> T
where
    E: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match check().await {
            Ok(v) => return v,
            Err(last) => assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last: {last:?}"
            ),
        }
        actix_rt::time::sleep(interval).await;
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
        client: awc::Client::builder().disable_redirects().finish(),
    }
}

/// Serves an app configured by `configure` (one worker, no signal handling) on
/// `127.0.0.1:0`, on a spawned task; returns the bound port and the server's handle.
fn serve_on_port_0(
    configure: impl Fn(&mut web::ServiceConfig) + Clone + Send + 'static,
) -> (u16, ServerHandle) {
    let server = HttpServer::new(move || App::new().configure(configure.clone()))
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("receiver binds");
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_rt::spawn(server);
    (port, handle)
}
