//! The TCP_NODELAY trap: sequential produce requests of growing size.

use std::time::Instant;

use rskafka::record::Record;

use crate::baselines::{fresh_topic, kafka_client, produce};
use crate::config::BenchConfig;
use crate::events::Event;
use crate::stats::{mean_ms, percentile_ms};
use crate::BENCH_CLIENT_ID;

/// Zigzag varint length of `v` (Kafka record fields).
pub(crate) fn varint_len(v: i64) -> usize {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    let mut n = 1;
    while z >= 0x80 {
        z >>= 7;
        n += 1;
    }
    n
}

/// The encoded size of a produce request carrying `records` (record batch v2, no
/// compression), its 4-byte length prefix excluded: an estimate within a few bytes.
pub(crate) fn request_bytes(records: &[Record], topic: &str, client_id: &str) -> usize {
    let mut batch = 61; // record batch header
    for (i, r) in records.iter().enumerate() {
        let key = r.key.as_ref().map_or(0, Vec::len);
        let value = r.value.as_ref().map_or(0, Vec::len);
        let mut body = 1 + 1 + varint_len(i as i64); // attributes, timestamp delta, offset delta
        body += varint_len(key as i64) + key + varint_len(value as i64) + value;
        body += varint_len(r.headers.len() as i64);
        for (k, v) in &r.headers {
            body += varint_len(k.len() as i64) + k.len() + varint_len(v.len() as i64) + v.len();
        }
        batch += varint_len(body as i64) + body;
    }
    // header: api key, version, correlation id, client id; body: transactional id, acks,
    // timeout, topics array, topic name, partitions array, partition index, records length.
    2 + 2 + 4 + 2 + client_id.len() + 2 + 2 + 4 + 4 + 2 + topic.len() + 4 + 4 + 4 + batch
}

/// One row of the trap sweep.
pub(crate) struct TrapRow {
    pub(crate) records: usize,
    pub(crate) approx_bytes: usize,
    pub(crate) request_bytes: usize,
    pub(crate) mean_ms: f64,
    pub(crate) p50_ms: f64,
    pub(crate) max_ms: f64,
}

/// Sequential produce requests (one in flight) of growing size.
pub(crate) async fn trap_sweep(
    cfg: &BenchConfig,
    events: &[Event],
    router_records: usize,
) -> anyhow::Result<Vec<TrapRow>> {
    let client = kafka_client(&cfg.brokers).await?;
    let (topic, partitions) = fresh_topic(&client, "sbbench-trap", 1).await?;
    let pc = &partitions[0];
    // The brief's sizes, the router's largest batch, and the sizes either side of 8 KiB and
    // 64 KiB requests (length prefix included), where the trap should begin and end.
    let mut sizes = vec![10, 15, 20, 25, 50, 100, 200, 400, router_records];
    let sample: Vec<Record> = (0..400)
        .map(|i| events[i % events.len()].record())
        .collect();
    for limit in [8 * 1024, 64 * 1024] {
        if let Some(n) = (1..=sample.len())
            .find(|&n| 4 + request_bytes(&sample[..n], &topic, BENCH_CLIENT_ID) > limit)
        {
            sizes.extend([n - 1, n]);
        }
    }
    sizes.sort_unstable();
    sizes.dedup();
    let mut rows = Vec::new();
    let mut next = 0usize;
    for n in sizes {
        let mut take = || {
            let batch: Vec<Record> = (0..n)
                .map(|i| events[(next + i) % events.len()].record())
                .collect();
            next += n;
            batch
        };
        let first = take();
        let approx_bytes = first.iter().map(Record::approximate_size).sum();
        let request_bytes = request_bytes(&first, &topic, BENCH_CLIENT_ID);
        // Two unmeasured requests first.
        produce(pc, first)
            .await
            .map_err(|e| anyhow::anyhow!("trap sweep produce: {e}"))?;
        produce(pc, take())
            .await
            .map_err(|e| anyhow::anyhow!("trap sweep produce: {e}"))?;
        let mut samples = Vec::with_capacity(cfg.trap_requests);
        for _ in 0..cfg.trap_requests {
            let batch = take();
            let t = Instant::now();
            produce(pc, batch)
                .await
                .map_err(|e| anyhow::anyhow!("trap sweep produce: {e}"))?;
            samples.push(t.elapsed());
        }
        rows.push(TrapRow {
            records: n,
            approx_bytes,
            request_bytes,
            mean_ms: mean_ms(&samples),
            p50_ms: percentile_ms(&samples, 50.0),
            max_ms: percentile_ms(&samples, 100.0),
        });
    }
    Ok(rows)
}
