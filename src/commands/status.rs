//! `switchboard status [--service URL]`: a running service's readiness (`GET /readyz`) and its
//! supervision view (`GET /actors`), printed as a table.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::Value;

/// Fetches `path` of `service` as JSON: its status and body (Null when not JSON).
async fn get(client: &awc::Client, service: &str, path: &str) -> anyhow::Result<(u16, Value)> {
    let mut resp = client
        .get(format!("{}{path}", service.trim_end_matches('/')))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{service}{path}: {e}"))?;
    let body = resp
        .body()
        .limit(1 << 20)
        .await
        .with_context(|| format!("{service}{path}: reading the answer"))?;
    Ok((
        resp.status().as_u16(),
        serde_json::from_slice(&body).unwrap_or(Value::Null),
    ))
}

/// The table of the supervision view `actors` (`GET /actors`'s list), one line per actor.
pub fn table(actors: &[Value]) -> String {
    let mut out = format!(
        "{:<22} {:>8}  {:<26} {:<32} {:>6}\n",
        "actor", "restarts", "last restart", "cause", "queue"
    );
    for a in actors {
        let cell = |v: &Value| match v {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let restarts = if a["answering"] == false {
            "no answer".to_string()
        } else {
            cell(&a["restarts"])
        };
        out.push_str(&format!(
            "{:<22} {:>8}  {:<26} {:<32} {:>6}\n",
            cell(&a["actor"]),
            restarts,
            cell(&a["last_restart"]["at"]),
            cell(&a["last_restart"]["cause"]),
            cell(&a["queue"]),
        ));
    }
    out
}

/// Prints the readiness line and the table; false when the service is not ready.
///
/// Errors: the service cannot be reached, or `/actors` does not answer a list.
pub async fn run(service: &str) -> anyhow::Result<bool> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .finish();
    let (ready_status, ready) = get(&client, service, "/readyz").await?;
    let (_, actors) = get(&client, service, "/actors").await?;
    let actors = actors
        .as_array()
        .with_context(|| format!("{service}/actors: not a list"))?;
    let ready_line = if ready_status == 200 {
        "ready".to_string()
    } else {
        format!(
            "not ready: {}",
            ready["message"].as_str().unwrap_or("no reason given")
        )
    };
    println!("service {service}: {ready_line}");
    print!("{}", table(actors));
    Ok(ready_status == 200)
}
