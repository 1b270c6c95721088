//! The sandbox and the service of the bench, in this process, and the HTTP calls to them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::{ensure, Context as _};
use serde_json::{json, Value};
use switchboard_sandbox::{Sandbox, SandboxOptions};

use crate::common::http;
use crate::common::service::{service_settings, start_app, RunningApp};
use crate::config::Config;
use crate::cpu::Cpu;
use crate::{MAX_ANSWER_BYTES, MAX_BODY_BYTES, POLL_AFTER_MS, UNLIMITED_BURST, UNLIMITED_RPM};

/// The sandbox and the service of the bench.
pub(crate) struct Stack {
    pub(crate) sandbox: Sandbox,
    pub(crate) app: actix_web::dev::ServerHandle,
    pub(crate) task: actix_rt::task::JoinHandle<std::io::Result<()>>,
    pub(crate) base: String,
    pub(crate) dir: std::path::PathBuf,
    /// Threads started by the sandbox (its worker and acceptor).
    pub(crate) sandbox_threads: HashSet<u32>,
    /// Threads started by `Application::build` (HTTP workers, acceptor).
    pub(crate) service_threads: HashSet<u32>,
}

pub(crate) async fn start_stack(cfg: &Config) -> anyhow::Result<Stack> {
    let before = Cpu::tids();
    let sandbox = Sandbox::start(SandboxOptions {
        bind: "127.0.0.1:0".into(),
        ..SandboxOptions::default()
    })
    .await
    .context("starting the sandbox")?;
    let faults = send_json(
        &http(),
        "POST",
        &format!("{}/sandbox/faults", sandbox.base_url()),
        &json!({"rate_limit_per_minute": UNLIMITED_RPM}),
    )
    .await?;
    ensure!(faults.0 == 200, "sandbox faults: {}", faults.1);
    // The sandbox's worker starts once the server runs: it has now, it answered.
    let after_sandbox = Cpu::tids();

    let (dir, mut s) = service_settings(&cfg.brokers, sandbox.base_url())?;
    s.server.workers = 2;
    s.server.max_body_bytes = MAX_BODY_BYTES;
    s.cxone.requests_per_minute = UNLIMITED_RPM;
    s.cxone.burst = UNLIMITED_BURST;
    s.orchestration.poll_after_ms = POLL_AFTER_MS;
    let RunningApp { base, handle, task } = start_app(
        s,
        "building the service (is a broker listening at SWITCHBOARD_BENCH_BROKERS?)",
    )
    .await?;
    let mut stack = Stack {
        sandbox,
        app: handle,
        task,
        base,
        dir,
        sandbox_threads: after_sandbox.difference(&before).copied().collect(),
        service_threads: HashSet::new(),
    };
    // Completions only come by webhook once the service has registered its callback.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let state = stack.sandbox_state().await?;
        if state["requests"]["POST /api/v1/webhooks 201"]
            .as_u64()
            .unwrap_or(0)
            > 0
        {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the service did not register its webhook"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    // The service's workers run once it has answered.
    let health = send_json(
        &http(),
        "GET",
        &format!("{}/healthz", stack.base),
        &Value::Null,
    )
    .await?;
    ensure!(health.0 == 200, "GET /healthz: {}", health.0);
    stack.service_threads = Cpu::tids().difference(&after_sandbox).copied().collect();
    Ok(stack)
}

impl Stack {
    pub(crate) async fn sandbox_state(&self) -> anyhow::Result<Value> {
        let (status, state) = send_json(
            &http(),
            "GET",
            &format!("{}/sandbox/state", self.sandbox.base_url()),
            &Value::Null,
        )
        .await?;
        ensure!(status == 200, "sandbox state: {status}");
        Ok(state)
    }

    pub(crate) async fn stop(self) {
        self.app.stop(true).await;
        let _ = self.task.await;
        self.sandbox.stop().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Sends `body` (JSON, none for GET) and returns the status and the JSON answer (Null if none).
pub(crate) async fn send_json(
    client: &awc::Client,
    method: &str,
    url: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let bytes = match body {
        Value::Null => Bytes::new(),
        v => Bytes::from(serde_json::to_vec(v)?),
    };
    send_bytes(client, method, url, bytes).await
}

pub(crate) async fn send_bytes(
    client: &awc::Client,
    method: &str,
    url: &str,
    body: Bytes,
) -> anyhow::Result<(u16, Value)> {
    let req = match method {
        "GET" => client.get(url),
        _ => client
            .post(url)
            .insert_header(("Content-Type", "application/json")),
    };
    let mut resp = req
        .send_body(body)
        .await
        .map_err(|e| anyhow::anyhow!("{method} {url}: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .body()
        .limit(MAX_ANSWER_BYTES)
        .await
        .map_err(|e| anyhow::anyhow!("{method} {url}: body: {e}"))?;
    Ok((
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    ))
}
