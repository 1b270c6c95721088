//! The sandbox side: reports, and the ceiling pager that pages an export job directly.

use anyhow::{ensure, Context as _};
use serde_json::{json, Value};

use crate::common::http;
use crate::{MAX_PAGE_BYTES, SEED};

/// `POST /sandbox/reports`.
pub(crate) async fn register_report(sandbox: &str, id: &str, records: u64) -> anyhow::Result<()> {
    let resp = http()
        .post(format!("{sandbox}/sandbox/reports"))
        .send_json(&json!({"id": id, "records": records, "seed": SEED}))
        .await
        .map_err(|e| anyhow::anyhow!("register report {id}: {e}"))?;
    ensure!(
        resp.status().as_u16() == 201,
        "register report {id}: {}",
        resp.status()
    );
    Ok(())
}

/// What one pager or one stream moved.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Moved {
    pub(crate) records: u64,
    /// Pages or chunks.
    pub(crate) pages: u64,
    /// Uncompressed JSON bytes of the records.
    pub(crate) json_bytes: u64,
    /// Bytes on the wire: page bodies, or whole WebSocket messages.
    pub(crate) wire_bytes: u64,
}

impl Moved {
    pub(crate) fn add(&mut self, other: &Moved) {
        self.records += other.records;
        self.pages += other.pages;
        self.json_bytes += other.json_bytes;
        self.wire_bytes += other.wire_bytes;
    }
}

/// Starts an export job on `report` and pages it to the end, one page in flight, as the
/// service does; returns what came and the first non-empty page's body.
///
/// Errors: a non-2xx answer, or a record count other than `expected`.
pub(crate) async fn page_report(
    client: &awc::Client,
    sandbox: &str,
    bearer: &str,
    report: &str,
    expected: u64,
    chunk: u64,
) -> anyhow::Result<(Moved, Vec<u8>)> {
    let mut resp = client
        .post(format!("{sandbox}/api/v2/data-actions/exports"))
        .insert_header(("Authorization", bearer))
        .send_json(&json!({"report_id": report, "format": "json"}))
        .await
        .map_err(|e| anyhow::anyhow!("start export: {e}"))?;
    let body: Value = serde_json::from_slice(&resp.body().await?)?;
    ensure!(resp.status().as_u16() == 201, "start export: {body}");
    let job = body["id"].as_str().context("no job id")?.to_string();
    let url = format!("{sandbox}/api/v2/data-actions/exports/{job}/records");
    let (mut moved, mut first) = (Moved::default(), Vec::new());
    loop {
        let mut resp = client
            .get(format!("{url}?limit={chunk}&offset={}", moved.records))
            .insert_header(("Authorization", bearer))
            .insert_header(("Accept", "application/json"))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("page at {}: {e}", moved.records))?;
        let body = resp.body().limit(MAX_PAGE_BYTES).await?;
        ensure!(
            resp.status().as_u16() == 200,
            "page at {}: {}",
            moved.records,
            resp.status()
        );
        // Records are flat objects whose strings hold no brace: one `{` per record.
        let count = body.iter().filter(|b| **b == b'{').count() as u64;
        if count == 0 {
            break;
        }
        if first.is_empty() {
            first = body.to_vec();
        }
        moved.records += count;
        moved.pages += 1;
        moved.json_bytes += body.len() as u64;
        moved.wire_bytes += body.len() as u64;
    }
    ensure!(
        moved.records == expected,
        "paged {} of {expected} records",
        moved.records
    );
    Ok((moved, first))
}
