//! The tables the bench prints: throughput, the per-page breakdown and memory.

use std::collections::HashMap;

use crate::breakdown::{audited_ms, Audited, Breakdown};
use crate::config::BenchConfig;
use crate::memory::Memory;
use crate::round::{Run, CONCURRENT, DIAGNOSTIC, TMPFS_VARIANT, VARIANTS};
use crate::{
    BREAKDOWN_REPEATS, IDLE_ACK_WINDOW, MB, RSS_INTERVAL, RSS_SAMPLES, TARGET_RATIO, TMPFS,
};

pub(crate) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The throughput table: the best round of each variant.
pub(crate) fn print_throughput(cfg: &BenchConfig, best: &dyn Fn(usize) -> Run) {
    let n = cfg.streams;
    let (ceiling, ceiling_n) = (best(0).rate(), best(CONCURRENT).rate());
    let verdict = |ok: bool| if ok { "ok" } else { "MISSED" };
    println!(
        "\nbest of {} rounds per variant ({} records; {n} streams: {} records each; ms/page of \
         the concurrent rows is per stream):\n",
        cfg.rounds,
        cfg.records,
        cfg.small()
    );
    println!(
        "| variant | records/s | JSON MB/s | wire MB/s | ms/page | vs ceiling | CPU s service / sandbox / client |"
    );
    println!("|---|---:|---:|---:|---:|---|---|");
    for (v, name) in VARIANTS.iter().enumerate() {
        let run = best(v);
        let name = name.replace('N', &n.to_string());
        let concurrent = v == CONCURRENT || v == CONCURRENT + 1;
        let ratio = run.rate() / if concurrent { ceiling_n } else { ceiling };
        let note = match v {
            0 => String::new(),
            1..=4 => format!(
                "target ≥ {TARGET_RATIO:.2}: {}",
                verdict(ratio >= TARGET_RATIO)
            ),
            DIAGNOSTIC | TMPFS_VARIANT => "not a target row".to_string(),
            _ => format!("of ceiling ×{n}"),
        };
        let streams = if concurrent { n as f64 } else { 1.0 };
        let per_page = run.secs * 1000.0 * streams / run.moved.pages.max(1) as f64;
        println!(
            "| {name} | {:.0} | {:.1} | {:.1} | {per_page:.2} | {ratio:.2} {note} | {:.2} / {:.2} / {:.2} in {:.2} s |",
            run.rate(),
            run.moved.json_bytes as f64 / MB / run.secs,
            run.moved.wire_bytes as f64 / MB / run.secs,
            run.cpu[0],
            run.cpu[1],
            run.cpu[2],
            run.secs
        );
    }
}

/// The per-page table: where one page's time goes.
pub(crate) fn print_breakdown(
    cfg: &BenchConfig,
    best: &dyn Fn(usize) -> Run,
    page: &[u8],
    cost: &Breakdown,
    audit: &HashMap<String, Audited>,
    saves: (f64, f64),
) {
    let per_page = |v: usize| best(v).secs * 1000.0 / best(v).moved.pages.max(1) as f64;
    let fetch = per_page(0);
    let (svc_page_none, svc_chunk_none) = audited_ms(audit, &best(1).jobs);
    let (svc_page_gzip, svc_chunk_gzip) = audited_ms(audit, &best(3).jobs);
    let (svc_page_bare, svc_chunk_bare) = audited_ms(audit, &best(DIAGNOSTIC).jobs);
    let cpu_ms = |v: usize, p: usize| best(v).cpu[p] * 1000.0 / best(v).moved.pages.max(1) as f64;
    let serial_none = fetch + cost.scan + cost.encode_none;
    let serial_gzip = fetch + cost.scan + cost.encode_gzip;
    println!(
        "\nper page of {} records ({:.0} KB JSON; gzip payload {:.0}% of it), ms; in-process \
         steps: median of {BREAKDOWN_REPEATS} on that page:\n",
        cfg.chunk,
        page.len() as f64 / 1000.0,
        cost.gzip_ratio * 100.0
    );
    println!("| step | none | gzip | where |\n|---|---:|---:|---|");
    println!(
        "| sandbox page fetched directly (ceiling run) | {fetch:.2} | {fetch:.2} | bench → sandbox |"
    );
    println!(
        "| page call as the service timed it (audit latency_ms, whole ms, truncated) | {svc_page_none:.2} | {svc_page_gzip:.2} | service → sandbox, best ack 0 runs |"
    );
    println!(
        "| the same without client verify (diagnostic run): page call / chunk latency | {svc_page_bare:.2} / {svc_chunk_bare:.2} | | less CPU contention from this client |"
    );
    println!(
        "| CPU per page: sandbox (ceiling run) | {:.2} | {:.2} | /proc stat, 10 ms ticks |",
        cpu_ms(0, 1),
        cpu_ms(0, 1)
    );
    println!(
        "| CPU per page: sandbox / service (ack 0 runs) | {:.2} / {:.2} | {:.2} / {:.2} | pages are fetched up to 3 ahead, so the three processes overlap on 2 cores |",
        cpu_ms(1, 1),
        cpu_ms(1, 0),
        cpu_ms(3, 1),
        cpu_ms(3, 0)
    );
    println!(
        "| scan: count + shape check against the baseline (scan::scan_page) | {:.3} | {:.3} | service |",
        cost.scan, cost.scan
    );
    println!(
        "| frame::encode_page (sha256 [+ gzip fast] + header, one copy) | {:.2} | {:.2} | service |",
        cost.encode_none, cost.encode_gzip
    );
    println!(
        "| fetch start → chunk queued (audit average_chunk_latency_ms) | {svc_chunk_none:.2} | {svc_chunk_gzip:.2} | service, best ack 0 runs |"
    );
    println!(
        "| serial model (nothing overlapping): fetch + scan + encode | {serial_none:.2} | {serial_gzip:.2} | predicts ratio {:.2} / {:.2} |",
        fetch / serial_none,
        fetch / serial_gzip
    );
    println!(
        "| measured stream time per page (ack 0) | {:.2} | {:.2} | ratio {:.2} / {:.2} |",
        per_page(1),
        per_page(3),
        fetch / per_page(1),
        fetch / per_page(3)
    );
    println!(
        "| checkpoint save (state store on SQLite: one upsert), every 200 ms and at the end | {:.2} | {:.2} on tmpfs | temp dir (the service's) vs {TMPFS}; written off the stream's path (the stream never waits for it) |",
        saves.0, saves.1
    );
    println!(
        "| measured stream time per page, ack 8: checkpoints in temp dir / on tmpfs | {:.2} / {:.2} | | ratio {:.2} / {:.2} |",
        per_page(2),
        per_page(TMPFS_VARIANT),
        fetch / per_page(2),
        fetch / per_page(TMPFS_VARIANT)
    );
    println!(
        "| client check: verify_checksum + count_records + first seq | {:.2} | {:.2} | this bench, overlapping the service |",
        cost.verify_none, cost.verify_gzip
    );
    println!(
        "| for comparison: parse page into Vec<Value> | {:.2} | | what building the records would cost |",
        cost.parse
    );
    println!(
        "| for comparison: tokenise page only (Vec<IgnoredAny>) | {:.2} | | lower bound of a check that parses |",
        cost.tokenise
    );
    println!(
        "| for comparison: sha256 of the page bytes | {:.2} | | the checksum alone |",
        cost.sha256
    );
}

/// The memory table.
pub(crate) fn print_memory(cfg: &BenchConfig, throughput: (u64, u64), m: &Memory) {
    let clients = cfg.idle_clients as f64;
    println!("\nservice memory (VmRSS / VmHWM of /proc/<pid>/status):\n");
    println!("| state | VmRSS MiB | VmHWM MiB | note |\n|---|---:|---:|---|");
    println!(
        "| throughput service after every round | {:.1} | {:.1} | VmHWM: its peak over all runs, {} concurrent streams included |",
        mib(throughput.0),
        mib(throughput.1),
        cfg.streams
    );
    println!(
        "| fresh service, idle (baseline) | {:.1} | {:.1} | after a one-chunk warm-up export |",
        mib(m.idle_rss),
        mib(m.idle_hwm)
    );
    println!(
        "| with {} idle slow clients (peak of {RSS_SAMPLES} samples over {:.1} s) | {:.1} | {:.1} | ack_window {IDLE_ACK_WINDOW}, none, chunk {}; all had a first chunk after {:.2} s |",
        cfg.idle_clients,
        RSS_SAMPLES as f64 * RSS_INTERVAL.as_secs_f64(),
        mib(m.peak_rss),
        mib(m.peak_hwm),
        cfg.chunk,
        m.connected.as_secs_f64()
    );
    println!(
        "| per idle client | {:.0} KiB | | (peak − baseline) / {} |",
        m.peak_rss.saturating_sub(m.idle_rss) as f64 / clients,
        cfg.idle_clients
    );
    println!("| 1 s after closing them | {:.1} | | |", mib(m.after_rss));
    println!(
        "| kernel TCP socket memory, machine-wide | {:.1} → {:.1} | | /proc/net/sockstat, idle → with the clients (~{:.0} KiB per client; not RSS) |",
        mib(m.idle_tcp),
        mib(m.peak_tcp),
        m.peak_tcp.saturating_sub(m.idle_tcp) as f64 / clients
    );
}
