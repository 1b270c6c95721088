//! The per-page cost: each step of the service and the client timed in this process, and the
//! service's own view from its audit log.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context as _};
use serde_json::Value;
use switchboard_actors::exports::frame::{
    decode_message, encode_page, key_set, schema_fingerprint, verify_checksum,
};
use switchboard_actors::exports::request::Compression;
use switchboard_actors::exports::scan::{count_records, scan_page};
use switchboard_actors::exports::{Checkpoint, CheckpointStore};
use switchboard_actors::store::{SqlCheckpointStore, Store};

use crate::stream::first_seq;
use crate::{AUDIT_POLL, AUDIT_TIMEOUT, BREAKDOWN_REPEATS, MAX_PAYLOAD, REPORT};

/// Median of `repeats` timings of `f`, in ms.
pub(crate) fn median_ms(repeats: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Median time of one checkpoint save to a SQLite state store in `dir` (as the stream's
/// checkpoint writer saves, off the stream's thread, every 200 ms and at the end), ms.
pub(crate) fn checkpoint_save_ms(dir: &Path) -> anyhow::Result<f64> {
    let url = format!("sqlite://{}", dir.join("state.db").display());
    crate::common::block_on(async move {
        let store = Store::open(&url, 1)
            .await
            .with_context(|| format!("state store in {}", dir.display()))?;
        let checkpoints = SqlCheckpointStore::new(store.clone());
        let checkpoint = Checkpoint {
            export_job_id: "bench-checkpoint".into(),
            report_id: REPORT.into(),
            next_offset: 0,
            baseline: Some(
                ["amount", "created_at", "customer", "id", "region", "seq"]
                    .map(String::from)
                    .to_vec(),
            ),
        };
        let mut times = Vec::with_capacity(BREAKDOWN_REPEATS);
        for _ in 0..BREAKDOWN_REPEATS {
            let t = Instant::now();
            checkpoints
                .save(checkpoint.clone())
                .await
                .with_context(|| format!("checkpoint save in {}", dir.display()))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        store.close().await;
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    })
}

/// Per-page CPU cost of each step the service and the client take, in this process (ms).
pub(crate) struct Breakdown {
    /// Parsing the page into `Vec<Value>`: what a service that builds the records would pay.
    pub(crate) parse: f64,
    /// The service's scan: count and shape check against the baseline (`scan_page`).
    pub(crate) scan: f64,
    /// The service's `encode_page` (sha256 [+ gzip fast] + header + one copy).
    pub(crate) encode_none: f64,
    pub(crate) encode_gzip: f64,
    /// The bench client's check: `verify_checksum` + `count_records` + first `seq`.
    pub(crate) verify_none: f64,
    pub(crate) verify_gzip: f64,
    /// Tokenising the page without building values (`Vec<IgnoredAny>`): a lower bound for
    /// any per-record check that parses.
    pub(crate) tokenise: f64,
    /// SHA-256 of the page bytes alone.
    pub(crate) sha256: f64,
    pub(crate) gzip_ratio: f64,
}

/// Times the service's steps on one page body (as the actor runs them) and the client's.
pub(crate) fn breakdown(page: &[u8]) -> anyhow::Result<Breakdown> {
    use sha2::Digest;
    let records: Vec<Value> = serde_json::from_slice(page)?;
    let keys = key_set(records.first().context("an empty page")?);
    let schema = schema_fingerprint(&keys);
    let count = records.len();
    let chunk = |c: Compression| -> anyhow::Result<Vec<u8>> {
        encode_page("job", 0, count, page, &schema, c, MAX_PAYLOAD)
            .map(|chunk| chunk.message)
            .context("a page over the bench's max payload")
    };
    let (none, gzip) = (chunk(Compression::None)?, chunk(Compression::Gzip)?);
    let scanned = scan_page(page, Some(&keys))?;
    ensure!(
        scanned.count == count && scanned.drift_at.is_none(),
        "the page's scan disagrees with its parse"
    );
    let verify = |message: &[u8]| {
        let (header, payload) = decode_message(message).expect("a chunk the bench encoded");
        let raw = verify_checksum(&header, payload).expect("a chunk the bench encoded verifies");
        let n = count_records(&raw).expect("a JSON array");
        std::hint::black_box((n, first_seq(&raw)));
    };
    Ok(Breakdown {
        parse: median_ms(BREAKDOWN_REPEATS, || {
            let v: Vec<Value> = serde_json::from_slice(page).expect("the page parsed once");
            std::hint::black_box(v);
        }),
        scan: median_ms(BREAKDOWN_REPEATS, || {
            std::hint::black_box(scan_page(page, Some(&keys)).expect("scanned once"));
        }),
        encode_none: median_ms(BREAKDOWN_REPEATS, || {
            std::hint::black_box(chunk(Compression::None).expect("encoded once"));
        }),
        encode_gzip: median_ms(BREAKDOWN_REPEATS, || {
            std::hint::black_box(chunk(Compression::Gzip).expect("encoded once"));
        }),
        verify_none: median_ms(BREAKDOWN_REPEATS, || verify(&none)),
        verify_gzip: median_ms(BREAKDOWN_REPEATS, || verify(&gzip)),
        tokenise: median_ms(BREAKDOWN_REPEATS, || {
            let v: Vec<serde::de::IgnoredAny> =
                serde_json::from_slice(page).expect("the page parsed once");
            std::hint::black_box(v);
        }),
        sha256: median_ms(BREAKDOWN_REPEATS, || {
            std::hint::black_box(sha2::Sha256::digest(page));
        }),
        gzip_ratio: gzip.len() as f64 / none.len() as f64,
    })
}

/// The service's own view of a stream, from its audit log.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Audited {
    /// `export_records` calls and the sum of their `latency_ms` (whole ms, truncated).
    pub(crate) page_calls: u64,
    pub(crate) page_ms: u64,
    /// `average_chunk_latency_ms` of the `export_stream` record (page fetch start → chunk
    /// queued, µs precision).
    pub(crate) chunk_ms: f64,
    /// Whether the `export_stream` record (written when the stream ends) was read.
    pub(crate) streamed: bool,
}

/// Reads the service's audit log: per export job id, its page calls and chunk latency.
pub(crate) fn read_audit(path: &Path) -> anyhow::Result<HashMap<String, Audited>> {
    let mut out: HashMap<String, Audited> = HashMap::new();
    for line in BufReader::new(File::open(path)?).lines() {
        let event: Value = serde_json::from_str(&line?)?;
        let job = event["target_id"].as_str().unwrap_or_default().to_string();
        match event["operation"].as_str() {
            Some("export_records") => {
                let a = out.entry(job).or_default();
                a.page_calls += 1;
                a.page_ms += event["latency_ms"].as_u64().unwrap_or(0);
            }
            Some("export_stream") => {
                let ms = event["details"]["average_chunk_latency_ms"].as_f64();
                let a = out.entry(job).or_default();
                a.chunk_ms = ms.unwrap_or(f64::NAN);
                a.streamed = true;
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Reads the service's audit log ([`read_audit`]) once it holds the `export_stream` record of
/// every job in `jobs`: the service flushes it every second, so the log is read again every
/// [`AUDIT_POLL`] until then. After [`AUDIT_TIMEOUT`] a log that still does not read fails;
/// one that reads but misses records is taken as it is, with a warning (the figures of those
/// jobs are left out).
pub(crate) fn await_audit(
    path: &Path,
    jobs: &[String],
) -> anyhow::Result<HashMap<String, Audited>> {
    let deadline = Instant::now() + AUDIT_TIMEOUT;
    loop {
        // A line can be half written until the next flush: a failed read is retried too.
        let read = read_audit(path);
        let missing = match &read {
            Ok(audit) => jobs
                .iter()
                .filter(|j| !audit.get(*j).is_some_and(|a| a.streamed))
                .count(),
            Err(_) => jobs.len(),
        };
        if missing == 0 || Instant::now() >= deadline {
            let audit = read.with_context(|| format!("reading {}", path.display()))?;
            if missing > 0 {
                eprintln!(
                    "warning: {missing} of {} export jobs have no export_stream record in {} \
                     after {} s",
                    jobs.len(),
                    path.display(),
                    AUDIT_TIMEOUT.as_secs()
                );
            }
            return Ok(audit);
        }
        std::thread::sleep(AUDIT_POLL);
    }
}

/// Mean page latency and mean chunk latency (ms) the service audited for `jobs`.
pub(crate) fn audited_ms(audit: &HashMap<String, Audited>, jobs: &[String]) -> (f64, f64) {
    let found: Vec<&Audited> = jobs.iter().filter_map(|j| audit.get(j)).collect();
    let (calls, ms) = found
        .iter()
        .fold((0, 0), |(c, m), a| (c + a.page_calls, m + a.page_ms));
    let chunk = found.iter().map(|a| a.chunk_ms).sum::<f64>() / found.len().max(1) as f64;
    (ms as f64 / calls.max(1) as f64, chunk)
}
