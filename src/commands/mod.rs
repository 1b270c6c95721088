//! CLI commands that run in-process against the configured CXone (no HTTP server):
//!
//! - `action`: `switchboard action create FILE [--dry-run] [--correlation-id ID]`;
//! - `delta`: `switchboard delta apply --data-store ID --conflict MODE FILE`;
//! - `export`: `switchboard export --report ID` (the reference stream consumer);
//! - `openapi`: `switchboard openapi` (the HTTP API's OpenAPI document; no CXone);
//! - `plan`: `switchboard plan validate FILE`, `switchboard orchestrate FILE [--out FILE]`;
//! - `status`: `switchboard status [--service URL]` (over HTTP: readiness and the supervision
//!   view of a running service).

pub mod action;
pub mod delta;
pub mod delta_lines;
pub mod export;
pub mod openapi;
pub mod plan;
pub mod status;

use std::path::Path;

use actix::prelude::*;
use anyhow::Context as _;
use switchboard_actors::cxone::CxoneRuntime;

use crate::body::parse_json;
use crate::config::Settings;

/// Starts the CXone actors for a command; `cxone.base_url` must be set.
///
/// Errors: a missing `cxone.base_url`, or what [`CxoneRuntime::start`] refuses.
pub fn cxone_runtime(settings: &Settings) -> anyhow::Result<CxoneRuntime> {
    if settings.cxone.base_url.is_empty() {
        anyhow::bail!("cxone.base_url: required (CXONE_BASE_URL or SWITCHBOARD__CXONE__BASE_URL)");
    }
    Ok(CxoneRuntime::start(&settings.cxone, &settings.audit)?)
}

/// Flushes the audit log before a command exits.
pub async fn flush_audit(runtime: &CxoneRuntime) -> anyhow::Result<()> {
    runtime
        .audit
        .send(switchboard_actors::Flush)
        .await
        .context("audit actor")?
        .context("flushing the audit log")
}

/// Prints a JSON value, pretty, to stdout.
pub fn print_json(value: &serde_json::Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Prints a JSON value, pretty, to stderr.
pub fn eprint_json(value: &serde_json::Value) {
    eprintln!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Reads a JSON file for a command: `Some(value)` when it parses; otherwise prints the same
/// JSON error body as the HTTP API (`malformed_json`) on stderr and returns `None`.
///
/// Errors: the file cannot be read (`cannot read FILE`).
pub(crate) fn read_json(file: &Path) -> anyhow::Result<Option<serde_json::Value>> {
    let text = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    match parse_json(&text) {
        Ok(value) => Ok(Some(value)),
        Err(e) => {
            eprint_json(&e.body());
            Ok(None)
        }
    }
}

/// Starts an actor under a supervisor in the current arbiter.
pub fn start_supervised<A: Supervised + Actor<Context = Context<A>>>(actor: A) -> Addr<A> {
    Supervisor::start(move |_| actor)
}
