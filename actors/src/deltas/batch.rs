//! Batches of a delta set (seed 001): at most `deltas.max_batch_size` (≤ 1000, the API's
//! maximum) records each, in order; each batch's payload is serialised once in the seed's
//! shape (`dataStoreId`, `records`, `updateType`, `conflictResolution`, `batchSize`,
//! `triggerVersion`), and its SHA-256 hex is the batch checksum, sent as `X-Payload-Checksum`
//! and as `Idempotency-Key`.

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::set::{ConflictResolution, UpdateType};

/// The API's largest batch.
pub const API_MAX_BATCH: usize = 1000;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a, R> {
    data_store_id: &'a str,
    records: &'a [R],
    update_type: UpdateType,
    conflict_resolution: ConflictResolution,
    batch_size: usize,
    trigger_version: bool,
}

/// A batch ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedBatch {
    /// Position in the run, from 0.
    pub index: usize,
    /// Records in it.
    pub size: usize,
    /// The payload, serialised once.
    pub body: Vec<u8>,
    /// Lowercase SHA-256 hex of `body`.
    pub checksum: String,
}

/// Lowercase SHA-256 hex of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(64);
    for b in Sha256::digest(bytes) {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Serialises one batch. `R` is any record shape that serialises as `{"id", "version"?,
/// "fields"}` ([`DeltaRecord`](super::set::DeltaRecord), or a raw form that keeps `fields` as received).
pub fn prepare<R: Serialize>(
    index: usize,
    data_store_id: &str,
    records: &[R],
    update_type: UpdateType,
    conflict_resolution: ConflictResolution,
) -> PreparedBatch {
    let payload = Payload {
        data_store_id,
        records,
        update_type,
        conflict_resolution,
        batch_size: records.len(),
        trigger_version: true,
    };
    // Serialising plain strings, numbers and JSON maps cannot fail.
    let body = serde_json::to_vec(&payload).unwrap_or_default();
    let checksum = sha256_hex(&body);
    PreparedBatch {
        index,
        size: records.len(),
        body,
        checksum,
    }
}

/// The batch size to use: the configured one, clamped to 1..=[`API_MAX_BATCH`].
pub fn batch_size(configured: usize) -> usize {
    configured.clamp(1, API_MAX_BATCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deltas::set::DeltaRecord;
    use serde_json::{json, Map};

    fn records(n: usize) -> Vec<DeltaRecord> {
        (0..n)
            .map(|i| DeltaRecord {
                id: format!("r{i}"),
                version: (i % 2 == 0).then_some(1),
                fields: Map::from_iter([("x".to_string(), json!(i))]),
            })
            .collect()
    }

    #[test]
    fn the_payload_has_the_seed_shape_and_its_checksum_is_its_sha256() {
        let recs = records(2);
        let b = prepare(
            3,
            "ds-1",
            &recs,
            UpdateType::Upsert,
            ConflictResolution::Fail,
        );
        let v: serde_json::Value = serde_json::from_slice(&b.body).expect("json");
        assert_eq!(
            v,
            json!({
                "dataStoreId": "ds-1",
                "records": [{"id": "r0", "version": 1, "fields": {"x": 0}}, {"id": "r1", "fields": {"x": 1}}],
                "updateType": "UPSERT",
                "conflictResolution": "FAIL",
                "batchSize": 2,
                "triggerVersion": true
            })
        );
        assert_eq!((b.index, b.size), (3, 2));
        assert_eq!(b.checksum, sha256_hex(&b.body));
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sizes_are_clamped_to_the_api_maximum() {
        assert_eq!(batch_size(5000), 1000);
        assert_eq!(batch_size(0), 1);
        assert_eq!(batch_size(250), 250);
    }
}
