//! `switchboard plan validate FILE` (exit 0 with `{"valid": true, "sub_flows": n}`, or 1 with
//! the same `invalid_plan` error as the HTTP API) and `switchboard orchestrate FILE [--out
//! report.json]`: runs the plan in-process against the configured CXone with a progress bar,
//! prints (and writes) the report, and exits 1 when the merge condition is unsatisfied.
//! Without an HTTP server to receive completion webhooks, `orchestrate` completes executions
//! by polling, starting after `orchestration.poll_interval_ms`.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use switchboard_actors::orchestration::{validate_plan, GetRun, Plan, StartRun};

use super::{cxone_runtime, eprint_json, flush_audit, print_json, read_json};
use crate::answers::plan_error;
use crate::config::Settings;
use switchboard_actors::orchestration;

/// How often the progress bar is refreshed.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// Reads and validates a plan file; prints the error and returns `None` when invalid.
///
/// Errors: the file cannot be read.
pub fn load_plan(file: &Path, max_sub_flows: usize) -> anyhow::Result<Option<Plan>> {
    let Some(value) = read_json(file)? else {
        return Ok(None);
    };
    match validate_plan(&value, max_sub_flows) {
        Ok(plan) => Ok(Some(plan)),
        Err(problems) => {
            eprint_json(&plan_error(problems).body());
            Ok(None)
        }
    }
}

/// `plan validate`: whether the plan is valid.
///
/// Errors: the file cannot be read.
pub fn validate(settings: &Settings, file: &Path) -> anyhow::Result<bool> {
    Ok(
        match load_plan(file, settings.orchestration.max_sub_flows)? {
            Some(plan) => {
                print_json(&serde_json::json!({"valid": true, "sub_flows": plan.sub_flows.len()}));
                true
            }
            None => false,
        },
    )
}

/// `orchestrate`: whether the run's merge condition was satisfied.
///
/// Errors: the file cannot be read, start-up fails, or the report cannot be written.
pub async fn orchestrate(
    mut settings: Settings,
    file: &Path,
    out: Option<&Path>,
) -> anyhow::Result<bool> {
    let Some(plan) = load_plan(file, settings.orchestration.max_sub_flows)? else {
        return Ok(false);
    };
    settings.orchestration.poll_after_ms = settings.orchestration.poll_interval_ms;
    let runtime = cxone_runtime(&settings)?;
    let (runs, _completions) = orchestration::start(
        &settings.orchestration,
        &runtime.handle,
        Some(&runtime.audit),
        None,
    );
    let total = plan.sub_flows.len() as u64;
    let run_id = runs
        .send(StartRun(plan))
        .await
        .context("runs actor")?
        .context("the run could not be recorded")?;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} sub-flows {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = loop {
        let report = runs
            .send(GetRun(run_id.clone()))
            .await
            .context("runs actor")?
            .context("the run vanished")?;
        let done = report
            .sub_flows
            .iter()
            .filter(|s| s.status.is_terminal())
            .count();
        bar.set_position(done as u64);
        bar.set_message(report.status);
        if report.settled {
            break report;
        }
        actix_rt::time::sleep(PROGRESS_INTERVAL).await;
    };
    bar.finish_and_clear();
    flush_audit(&runtime).await?;
    let json = serde_json::to_value(&report).context("report")?;
    if let Some(out) = out {
        std::fs::write(out, serde_json::to_vec_pretty(&json).context("report")?)
            .with_context(|| format!("cannot write {}", out.display()))?;
    }
    print_json(&json);
    Ok(report.outcome == Some("satisfied"))
}
