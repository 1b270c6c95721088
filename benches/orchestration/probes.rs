//! Runs of the plan polled until settled, and the webhook and report probes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::{ensure, Context as _};
use serde_json::{json, Value};

use crate::common::{http, on_thread};
use crate::stack::{send_bytes, send_json};
use crate::stats::{median, ms};
use crate::{MAX_ANSWER_BYTES, RUN_TIMEOUT};

/// A settled run as the poller saw it.
pub(crate) struct Polled {
    pub(crate) report: Value,
    /// From the POST until the poll that saw `settled`.
    pub(crate) observed: Duration,
    pub(crate) polls: usize,
}

/// POSTs the plan and polls its report until settled (on a thread of its own).
pub(crate) async fn run_plan(
    base: &str,
    plan: Arc<Bytes>,
    poll: Duration,
) -> anyhow::Result<Polled> {
    let base = base.to_string();
    on_thread("bench-poller", move || async move {
        let client = http();
        let started = Instant::now();
        let url = format!("{base}/orchestrations");
        let (status, body) = send_bytes(&client, "POST", &url, (*plan).clone()).await?;
        ensure!(status == 202, "POST /orchestrations: {status} {body}");
        let run_id = body["run_id"].as_str().context("run_id")?.to_string();
        let url = format!("{base}/orchestrations/{run_id}");
        let mut polls = 0;
        loop {
            polls += 1;
            let (status, report) = send_json(&client, "GET", &url, &Value::Null).await?;
            if status == 200 && report["settled"] == true {
                return Ok(Polled {
                    report,
                    observed: started.elapsed(),
                    polls,
                });
            }
            ensure!(
                started.elapsed() < RUN_TIMEOUT,
                "run {run_id} did not settle"
            );
            actix_rt::time::sleep(poll).await;
        }
    })
    .await
}

/// Round trip of `POST /cxone/webhook` (a completion of an unknown execution: buffered), one
/// at a time, with a client built per event (as the sandbox sends them; building it is timed)
/// and with one kept-alive client; medians in ms.
pub(crate) async fn webhook_probe(base: &str, events: usize) -> anyhow::Result<(f64, f64)> {
    let url = format!("{base}/cxone/webhook");
    on_thread("bench-probe", move || async move {
        let kept = http();
        let (mut fresh, mut reused) = (Vec::new(), Vec::new());
        for i in 0..events * 2 {
            let event = json!({
                "event_id": uuid::Uuid::new_v4().to_string(),
                "source": "bench",
                "data": {"subFlowId": uuid::Uuid::new_v4().to_string(),
                         "executionId": uuid::Uuid::new_v4().to_string(), "status": "completed"},
                "timestamp": "2026-01-01T00:00:00.000Z",
            });
            let t = Instant::now();
            let (client, into) = match i % 2 {
                0 => (http(), &mut fresh),
                _ => (kept.clone(), &mut reused),
            };
            let (status, body) = send_json(&client, "POST", &url, &event).await?;
            into.push(t.elapsed());
            ensure!(
                status == 200 && body["status"] == "buffered",
                "{status} {body}"
            );
        }
        Ok((ms(median(fresh)), ms(median(reused))))
    })
    .await
}

/// What one `GET /orchestrations/{run_id}` of a 1 000-entry report costs the poller: round trip
/// to the last body byte, then parsing (medians in ms), and the body's size.
pub(crate) async fn report_probe(
    base: &str,
    run_id: &str,
    n: usize,
) -> anyhow::Result<(f64, f64, usize)> {
    let url = format!("{base}/orchestrations/{run_id}");
    on_thread("bench-probe", move || async move {
        let client = http();
        let (mut fetch, mut parse, mut size) = (Vec::new(), Vec::new(), 0);
        for _ in 0..n {
            let t = Instant::now();
            let mut resp = client
                .get(&url)
                .send()
                .await
                .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
            let body = resp.body().limit(MAX_ANSWER_BYTES).await?;
            fetch.push(t.elapsed());
            let t = Instant::now();
            let report: Value = serde_json::from_slice(&body)?;
            parse.push(t.elapsed());
            ensure!(report["settled"] == true, "the probed run is not settled");
            size = body.len();
        }
        Ok((ms(median(fetch)), ms(median(parse)), size))
    })
    .await
}
