//! The makespan runs: warm-up, the measured runs, their analysis and the probes.

use std::sync::Arc;

use actix_web::web::Bytes;
use anyhow::ensure;
use switchboard_actors::orchestration::validate_plan;

use crate::analysis::analyse;
use crate::config::Config;
use crate::cpu::Cpu;
use crate::plan::{bounds, greedy, layered_plan};
use crate::probes::{report_probe, run_plan, webhook_probe};
use crate::stack::Stack;
use crate::stats::{load_average, ms};
use crate::{SEED, TARGET_RATIO};

pub(crate) async fn makespan(cfg: &Config, stack: &Stack) -> anyhow::Result<()> {
    let n = cfg.layers * cfg.width;
    let l = cfg.latency_ms;
    let plan_json = layered_plan(cfg.layers, cfg.width, cfg.cap, l, SEED);
    let plan = validate_plan(&plan_json, n)
        .map_err(|p| anyhow::anyhow!("the bench plan is invalid: {p:?}"))?;
    let b = bounds(&plan)?;
    let ideal = b.greedy * l;
    let lower = b.critical_path.max(b.slot_rounds) * l;
    println!();
    println!(
        "Makespan: {} layers × {} sub-flows (N={n}, 2–3 dependencies each on the previous layer), concurrency_max {}, L={l} ms",
        cfg.layers, cfg.width, cfg.cap
    );
    println!(
        "  lower bound max(critical path {} × L, ⌈N/cap⌉ {} × L) = {lower} ms;  ideal (service's Scheduler, zero overhead) = {} × L = {ideal} ms",
        b.critical_path, b.slot_rounds, b.greedy
    );

    // Warm-up: token, connection pools, allocators; not measured.
    let warm = layered_plan(2, cfg.cap, cfg.cap, 5, SEED + 2);
    let warm = run_plan(
        &stack.base,
        Arc::new(Bytes::from(serde_json::to_vec(&warm)?)),
        cfg.poll,
    )
    .await?;
    ensure!(
        warm.report["outcome"] == "satisfied",
        "warm-up run: {}",
        warm.report["outcome"]
    );

    let body = Arc::new(Bytes::from(serde_json::to_vec(&plan_json)?));
    let mut ratios = Vec::new();
    let mut last_run = None;
    for run in 1..=cfg.runs {
        let load = load_average();
        let cpu_before = Cpu::now();
        let polled = run_plan(&stack.base, body.clone(), cfg.poll).await?;
        let cpu = Cpu::now().since(&cpu_before, &stack.service_threads, &stack.sandbox_threads);
        last_run = polled.report["run_id"].as_str().map(String::from);
        let state = stack.sandbox_state().await?;
        let a = analyse(&polled.report, &state, l, cfg.cap, n)?;
        let measured_ideal = greedy(&plan, |i| a.durations.get(i).copied().unwrap_or(l))?;
        let ratio = a.makespan_ms as f64 / ideal.max(1) as f64;
        ratios.push(ratio);
        let over = a.makespan_ms - ideal as i64;
        println!();
        println!(
            "  run {run}: makespan {} ms (sandbox clock)  ideal {ideal} ms  ratio {ratio:.3} {}  wall_clock_ms {}  seen settled after {:.0} ms ({} polls)  load {load}",
            a.makespan_ms,
            if ratio <= TARGET_RATIO { "(within 10%)" } else { "(MISSES ≤ 1.10)" },
            a.wall_clock_ms,
            ms(polled.observed),
            polled.polls
        );
        println!(
            "    overhead {over} ms = {:.1} ms per layer ({} layers) = {:.1} ms per hop ({} slot rounds); peak in flight {} (cap {}), mean {:.1}",
            over as f64 / cfg.layers as f64,
            cfg.layers,
            over as f64 / b.greedy as f64,
            b.greedy,
            a.peak,
            cfg.cap,
            a.mean_in_flight
        );
        println!("    per hop, ms (execution ends → its slot's next execution starts):");
        println!("{}", a.overshoot.line("sandbox: execution length − L"));
        println!(
            "{}",
            a.webhook.line("sandbox end → service records it (webhook)")
        );
        println!("{}", a.dispatch.line("service records end → launches next"));
        println!(
            "{}",
            a.post.line("service launches → sandbox receives POST")
        );
        println!(
            "{}",
            a.slot_idle
                .line("slot idle, sandbox clock (end → next start)")
        );
        println!(
            "    ideal with the sandbox's measured execution lengths {measured_ideal} ms: ratio {:.3}, the rest is {:.1} ms per hop",
            a.makespan_ms as f64 / measured_ideal.max(1) as f64,
            (a.makespan_ms - measured_ideal as i64) as f64 / b.greedy as f64
        );
        println!(
            "    burst position (first vs last tenth of each round of {}): webhook stage {:.1} vs {:.1} ms, POST stage {:.1} vs {:.1} ms",
            cfg.cap, a.burst[0], a.burst[1], a.burst[2], a.burst[3]
        );
        let total: f64 = cpu.cpu.iter().sum();
        println!(
            "    CPU ms during the run: actors (main thread) {:.0}, service HTTP threads {:.0}, sandbox threads {:.0}, bench poller {:.0}, other {:.0}; total {total:.0} = {:.2} cores over {:.0} ms",
            cpu.cpu[0],
            cpu.cpu[1],
            cpu.cpu[2],
            cpu.cpu[3],
            cpu.cpu[4],
            total / ms(polled.observed).max(1.0),
            ms(polled.observed)
        );
        println!(
            "    waited for a free core (run queue) ms: actors {:.0}, service HTTP threads {:.0}, sandbox threads {:.0}",
            cpu.wait[0], cpu.wait[1], cpu.wait[2]
        );
    }
    ratios.sort_by(f64::total_cmp);
    let (fresh, reused) = webhook_probe(&stack.base, 200).await?;
    println!();
    println!(
        "  probe: POST /cxone/webhook round trip, one at a time (median of 200): fresh client per event (as the sandbox sends) {fresh:.2} ms, kept-alive client {reused:.2} ms"
    );
    if let Some(run_id) = last_run {
        let (fetch, parse, size) = report_probe(&stack.base, &run_id, 30).await?;
        println!(
            "  probe: GET /orchestrations/{{run_id}} of a settled {n}-entry run (median of 30): {size} bytes, {fetch:.2} ms to the last byte + {parse:.2} ms to parse; every {} ms while a run is polled",
            cfg.poll.as_millis()
        );
    }
    println!(
        "  median ratio {:.3} over {} runs (target ≤ {TARGET_RATIO:.2})",
        ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN),
        ratios.len()
    );
    Ok(())
}
