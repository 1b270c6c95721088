//! Validation time of a large plan: in process and through `POST /orchestrations`.

use std::time::Instant;

use actix_web::web::Bytes;
use anyhow::{ensure, Context as _};
use serde_json::{json, Value};
use switchboard_actors::orchestration::validate_plan;

use crate::common::http;
use crate::config::Config;
use crate::plan::layered_plan;
use crate::stack::{send_bytes, Stack};
use crate::stats::{median, ms};
use crate::{MAX_BODY_BYTES, SEED, VALIDATION_SHAPE};

/// The 10 000-node plan, valid and with one unknown dependency on its last sub-flow.
pub(crate) fn validation_plans(cap: usize) -> anyhow::Result<(Value, Value)> {
    let (layers, width) = VALIDATION_SHAPE;
    let valid = layered_plan(layers, width, cap, 100, SEED + 1);
    let mut invalid = valid.clone();
    let last = invalid["sub_flows"]
        .as_array_mut()
        .and_then(|l| l.last_mut())
        .context("no sub-flows")?;
    last["depends_on"]
        .as_array_mut()
        .context("depends_on")?
        .push(json!(uuid::Uuid::new_v4().to_string()));
    Ok((valid, invalid))
}

pub(crate) fn time_in_process(cfg: &Config) -> anyhow::Result<Bytes> {
    let (valid, invalid) = validation_plans(cfg.cap)?;
    let n = VALIDATION_SHAPE.0 * VALIDATION_SHAPE.1;
    let text = serde_json::to_string(&valid)?;
    let mut parse = Vec::new();
    let mut validate = Vec::new();
    let mut reject = Vec::new();
    for _ in 0..cfg.validation_runs {
        let t = Instant::now();
        let value: Value = serde_json::from_str(&text)?;
        parse.push(t.elapsed());
        let t = Instant::now();
        let plan = validate_plan(&value, n).map_err(|p| anyhow::anyhow!("invalid: {p:?}"))?;
        validate.push(t.elapsed());
        ensure!(
            plan.sub_flows.len() == n,
            "{} sub-flows",
            plan.sub_flows.len()
        );
        let t = Instant::now();
        let problems = validate_plan(&invalid, n)
            .err()
            .context("the invalid plan passed")?;
        reject.push(t.elapsed());
        ensure!(
            problems.len() == 1 && problems[0].kind == "unknown_dependency",
            "unexpected problems {problems:?}"
        );
    }
    println!();
    println!(
        "Validation of a {}×{} plan ({n} sub-flows, {} bytes of JSON; median of {})",
        VALIDATION_SHAPE.0,
        VALIDATION_SHAPE.1,
        text.len(),
        cfg.validation_runs
    );
    println!(
        "  serde_json parse                    {:>8.2} ms",
        ms(median(parse))
    );
    println!(
        "  validate_plan (valid)               {:>8.2} ms",
        ms(median(validate))
    );
    println!(
        "  validate_plan (1 unknown dependency) {:>7.2} ms",
        ms(median(reject))
    );
    Ok(Bytes::from(serde_json::to_vec(&invalid)?))
}

pub(crate) async fn time_over_http(
    cfg: &Config,
    stack: &Stack,
    invalid: Bytes,
) -> anyhow::Result<()> {
    let client = http();
    let url = format!("{}/orchestrations", stack.base);
    let mut times = Vec::new();
    for round in 0..=cfg.validation_runs {
        let t = Instant::now();
        let (status, body) = send_bytes(&client, "POST", &url, invalid.clone()).await?;
        let took = t.elapsed();
        ensure!(
            status == 400 && body["error"] == "invalid_plan",
            "{status} {body}"
        );
        if round > 0 {
            times.push(took);
        }
    }
    println!(
        "  POST /orchestrations (invalid, 400)  {:>7.2} ms   (HTTP round trip: {} bytes up, read, parse, validate; body limit raised to {} MiB, the default 1 MiB answers 413)",
        ms(median(times)),
        invalid.len(),
        MAX_BODY_BYTES >> 20
    );
    Ok(())
}
