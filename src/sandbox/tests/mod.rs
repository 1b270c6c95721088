//! HTTP tests: a real sandbox on port 0, driven with awc.
//!
//! - `token`: the token endpoint and token expiry;
//! - `api`: acknowledgements, rate limit, faults, latency, unknown routes;
//! - `emit`: `POST /sandbox/emit` against a receiver bound on port 0.

mod api;
mod emit;
mod token;

use std::time::Duration;

use serde_json::Value;

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
