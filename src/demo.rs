//! `switchboard demo`: shows a running service at work. Asks the sandbox to emit Data Action
//! events at the service, waits for their acknowledgements, and prints a summary: HTTP
//! statuses, events per topic/partition (from `/metrics`), acknowledgements (from the
//! sandbox), and p50/p99 webhook latency as the sandbox measured it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use serde_json::{json, Value};

/// How long the demo waits for readiness and for acknowledgements.
pub const WAIT: Duration = Duration::from_secs(120);

/// Demo parameters.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Service base URL, e.g. `http://127.0.0.1:8080`.
    pub service: String,
    /// Sandbox base URL, e.g. `http://127.0.0.1:8090`.
    pub sandbox: String,
    /// Events to emit.
    pub events: u32,
    /// Webhook requests in flight at once.
    pub concurrency: u32,
}

/// Records routed per `(topic, partition)`, read from Prometheus text.
pub fn routed_per_partition(metrics: &str) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("switchboard_routed_records_total{"))
    {
        let label = |name: &str| {
            let start = line.find(&format!("{name}=\""))? + name.len() + 2;
            let end = start + line[start..].find('"')?;
            Some(line[start..end].to_string())
        };
        let value = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(t), Some(p), Some(v)) = (label("topic"), label("partition"), value) {
            out.insert((t, p), v as u64);
        }
    }
    out
}

async fn get_json(http: &awc::Client, url: &str) -> anyhow::Result<(u16, Value)> {
    let mut resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp
        .json::<Value>()
        .limit(64 << 20)
        .await
        .unwrap_or(Value::Null);
    Ok((status, body))
}

/// Runs the demo and prints the summary.
///
/// Errors: the service never became ready, or the sandbox refused the emit request.
pub async fn run(o: DemoOptions) -> anyhow::Result<()> {
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(600))
        .finish();
    let started = Instant::now();
    loop {
        match get_json(&http, &format!("{}/readyz", o.service)).await {
            Ok((200, _)) => break,
            Ok((_, body)) if started.elapsed() > WAIT => bail!("the service is not ready: {body}"),
            Err(e) if started.elapsed() > WAIT => return Err(e),
            _ => actix_rt::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let before = get_json(&http, &format!("{}/sandbox/state", o.sandbox))
        .await?
        .1;
    let acked_before = before["acknowledgements"]
        .as_object()
        .map_or(0, |m| m.len());
    println!(
        "demo: the sandbox emits {} events at {} ({} in flight)...",
        o.events, o.service, o.concurrency
    );
    let mut resp = http
        .post(format!("{}/sandbox/emit", o.sandbox))
        .send_json(&json!({
            "target_url": format!("{}/webhook/cxone/data-actions", o.service),
            "count": o.events,
            "concurrency": o.concurrency,
        }))
        .await
        .map_err(|e| anyhow::anyhow!("POST /sandbox/emit: {e}"))?;
    let emitted: Value = resp.json().limit(1 << 20).await.context("emit answer")?;
    if !resp.status().is_success() {
        bail!("the sandbox refused to emit: {emitted}");
    }
    let routed = emitted["statuses"]["200"].as_u64().unwrap_or(0) as usize;
    let wait_started = Instant::now();
    let acked = loop {
        let state = get_json(&http, &format!("{}/sandbox/state", o.sandbox))
            .await?
            .1;
        let acked = state["acknowledgements"].as_object().map_or(0, |m| m.len()) - acked_before;
        if acked >= routed || wait_started.elapsed() > WAIT {
            break acked;
        }
        actix_rt::time::sleep(Duration::from_millis(250)).await;
    };
    let ack_secs = wait_started.elapsed().as_secs_f64();
    let metrics = http
        .get(format!("{}/metrics", o.service))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("GET /metrics: {e}"))?
        .body()
        .limit(16 << 20)
        .await
        .context("metrics body")?;
    let per_partition = routed_per_partition(&String::from_utf8_lossy(&metrics));

    let elapsed_ms = emitted["elapsed_ms"].as_f64().unwrap_or(0.0);
    println!("\n== switchboard demo summary ==");
    println!("events sent         {}", emitted["sent"]);
    println!("HTTP statuses       {}", emitted["statuses"]);
    println!(
        "throughput          {:.0} events/s ({} events in {:.0} ms)",
        routed as f64 / (elapsed_ms / 1000.0).max(1e-9),
        routed,
        elapsed_ms
    );
    println!(
        "webhook latency     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        emitted["latency_ms"]["p50"].as_f64().unwrap_or(0.0),
        emitted["latency_ms"]["p99"].as_f64().unwrap_or(0.0),
        emitted["latency_ms"]["max"].as_f64().unwrap_or(0.0)
    );
    println!("records per topic/partition (since the service started):");
    for ((topic, partition), n) in &per_partition {
        println!("  {topic:<32} p{partition}  {n}");
    }
    println!("acknowledged        {acked} of {routed} (waited {ack_secs:.1} s; bounded by the tenant's rate limit)");
    if acked < routed {
        println!("note: acknowledgements continue in the background");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routed_counts_are_read_per_topic_and_partition() {
        let text = "# HELP x\nswitchboard_routed_records_total{partition=\"0\",topic=\"a\"} 5\n\
                    switchboard_routed_records_total{partition=\"2\",topic=\"b\"} 7\nother 1\n";
        let m = routed_per_partition(text);
        assert_eq!(m[&("a".to_string(), "0".to_string())], 5);
        assert_eq!(m[&("b".to_string(), "2".to_string())], 7);
        assert_eq!(m.len(), 2);
    }
}
