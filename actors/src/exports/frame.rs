//! Chunk frames (seed 003, with its defect fixed: payloads are binary, not strings in JSON).
//! A chunk is one binary WebSocket message: a UTF-8 JSON header, `\n`, then the payload —
//! the JSON array of the records, gzip-compressed when asked. Header: `{"type":"chunk",
//! "export_job_id", "offset", "count", "checksum" (lowercase SHA-256 hex of the uncompressed
//! payload), "compression", "schema" (fingerprint of the record shape)}`. A chunk whose
//! payload would exceed `max_payload_size` is split; only a single record over the limit is
//! an error.

use std::io::Write;

use serde_json::{json, Value};

use super::request::Compression;
use crate::deltas::batch::sha256_hex;

/// A record alone is over `max_payload_size`.
#[derive(Debug, Clone, PartialEq, Eq, derive_more::Display)]
#[display("the record at offset {offset} is {bytes} bytes, over max_payload_size {limit}")]
pub struct RecordTooLarge {
    /// Its offset.
    pub offset: u64,
    /// Its encoded size.
    pub bytes: usize,
    /// The limit.
    pub limit: usize,
}

/// An encoded chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Offset of its first record.
    pub offset: u64,
    /// Records in it.
    pub count: usize,
    /// The whole binary message (header, `\n`, payload).
    pub message: Vec<u8>,
    /// Payload bytes (after compression).
    pub payload_bytes: usize,
}

/// The sorted key set of a record (empty for non-objects).
pub fn key_set(record: &Value) -> Vec<String> {
    let mut keys: Vec<String> = record
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    keys
}

/// Whether a record's keys are exactly `keys` (sorted), without allocating.
pub fn same_shape(record: &Value, keys: &[String]) -> bool {
    match record.as_object() {
        Some(o) => o.len() == keys.len() && keys.iter().all(|k| o.contains_key(k)),
        None => keys.is_empty(),
    }
}

/// Fingerprint of a key set: the first 16 hex digits of SHA-256 over the keys joined by `,`.
pub fn schema_fingerprint(keys: &[String]) -> String {
    let mut hex = sha256_hex(keys.join(",").as_bytes());
    hex.truncate(16);
    hex
}

/// The payload of `bytes`: themselves (not copied) or gzip-compressed.
fn compress(bytes: &[u8], compression: Compression) -> std::borrow::Cow<'_, [u8]> {
    match compression {
        Compression::None => std::borrow::Cow::Borrowed(bytes),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            // Writing to a Vec cannot fail.
            let _ = enc.write_all(bytes);
            std::borrow::Cow::Owned(enc.finish().unwrap_or_default())
        }
    }
}

/// One chunk of `count` records at `offset`: the header (checksum of `raw`, the uncompressed
/// JSON array), `\n`, then `payload` (`raw` after compression), in one allocation.
fn chunk(
    job_id: &str,
    offset: u64,
    count: usize,
    raw: &[u8],
    payload: &[u8],
    schema: &str,
    compression: Compression,
) -> Chunk {
    let header = json!({
        "type": "chunk",
        "export_job_id": job_id,
        "offset": offset,
        "count": count,
        "checksum": sha256_hex(raw),
        "compression": compression.as_str(),
        "schema": schema,
    });
    let mut message = Vec::with_capacity(256 + payload.len());
    // Serialising a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut message, &header);
    message.push(b'\n');
    message.extend_from_slice(payload);
    Chunk {
        offset,
        count,
        payload_bytes: payload.len(),
        message,
    }
}

/// Encodes `records` (starting at `offset`, all of one shape) into chunks no larger than
/// `max_payload` bytes of payload each, splitting as needed.
///
/// Errors: a single record whose payload alone exceeds the limit.
pub fn encode(
    job_id: &str,
    offset: u64,
    records: &[Value],
    schema: &str,
    compression: Compression,
    max_payload: usize,
) -> Result<Vec<Chunk>, RecordTooLarge> {
    let mut out = Vec::new();
    let mut stack = vec![(offset, records)];
    while let Some((at, slice)) = stack.pop() {
        let raw = serde_json::to_vec(slice).unwrap_or_default();
        let payload = compress(&raw, compression);
        if payload.len() > max_payload {
            if slice.len() == 1 {
                return Err(RecordTooLarge {
                    offset: at,
                    bytes: payload.len(),
                    limit: max_payload,
                });
            }
            let mid = slice.len() / 2;
            // Second half first on the stack so the first half comes out first.
            stack.push((at + mid as u64, &slice[mid..]));
            stack.push((at, &slice[..mid]));
            continue;
        }
        out.push(chunk(
            job_id,
            at,
            slice.len(),
            &raw,
            &payload,
            schema,
            compression,
        ));
    }
    Ok(out)
}

/// Encodes a whole page as one chunk without re-serialising it: `page` is the JSON array of
/// the records as received. `None` when its payload would exceed `max_payload`.
pub fn encode_page(
    job_id: &str,
    offset: u64,
    count: usize,
    page: &[u8],
    schema: &str,
    compression: Compression,
    max_payload: usize,
) -> Option<Chunk> {
    let payload = compress(page, compression);
    if payload.len() > max_payload {
        return None;
    }
    Some(chunk(
        job_id,
        offset,
        count,
        page,
        &payload,
        schema,
        compression,
    ))
}

/// Splits a binary chunk message into its header and payload (for consumers and tests).
///
/// Errors: no `\n`, or a header that is not JSON.
pub fn decode_message(message: &[u8]) -> Result<(Value, &[u8]), String> {
    let nl = message
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("no header line")?;
    let header: Value =
        serde_json::from_slice(&message[..nl]).map_err(|e| format!("header: {e}"))?;
    Ok((header, &message[nl + 1..]))
}

/// Decompresses a chunk's payload and checks it against its header's checksum; returns the
/// uncompressed JSON array of the records, not parsed (the payload itself, not copied, when
/// it was not compressed).
///
/// Errors: bad gzip or a checksum mismatch.
pub fn verify_checksum<'p>(
    header: &Value,
    payload: &'p [u8],
) -> Result<std::borrow::Cow<'p, [u8]>, String> {
    let raw = match header["compression"].as_str() {
        Some("gzip") => {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(payload), &mut out)
                .map_err(|e| format!("gzip: {e}"))?;
            std::borrow::Cow::Owned(out)
        }
        _ => std::borrow::Cow::Borrowed(payload),
    };
    if Some(sha256_hex(&raw).as_str()) != header["checksum"].as_str() {
        return Err(format!("checksum mismatch at offset {}", header["offset"]));
    }
    Ok(raw)
}

/// Decompresses and checks a chunk's payload against its header's checksum; returns the
/// records.
///
/// Errors: bad gzip, checksum mismatch, or a payload that is not a JSON array.
pub fn verify_payload(header: &Value, payload: &[u8]) -> Result<Vec<Value>, String> {
    let raw = verify_checksum(header, payload)?;
    serde_json::from_slice(&raw).map_err(|e| format!("payload: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| json!({"id": format!("r{i}"), "seq": i, "pad": "x".repeat(50)}))
            .collect()
    }

    #[test]
    fn a_chunk_round_trips_with_gzip_and_none() {
        for compression in [Compression::Gzip, Compression::None] {
            let recs = records(10);
            let chunks = encode("job", 40, &recs, "abc", compression, 1 << 20).expect("encode");
            assert_eq!(chunks.len(), 1);
            let (header, payload) = decode_message(&chunks[0].message).expect("decode");
            assert_eq!(header["offset"], 40);
            assert_eq!(header["count"], 10);
            assert_eq!(header["compression"], compression.as_str());
            assert_eq!(verify_payload(&header, payload).expect("verify"), recs);
        }
    }

    #[test]
    fn an_oversized_chunk_is_split_in_order_and_a_lone_oversized_record_is_an_error() {
        let recs = records(16);
        let one = serde_json::to_vec(&recs[..1]).expect("json").len();
        let chunks = encode("job", 0, &recs, "s", Compression::None, one * 5).expect("encode");
        assert!(chunks.len() > 1);
        let offsets: Vec<u64> = chunks.iter().map(|c| c.offset).collect();
        let mut sorted = offsets.clone();
        sorted.sort();
        assert_eq!(offsets, sorted, "in order");
        assert_eq!(chunks.iter().map(|c| c.count).sum::<usize>(), 16);
        assert!(chunks.iter().all(|c| c.payload_bytes <= one * 5));
        let err = encode("job", 7, &recs[..1], "s", Compression::None, 10).expect_err("too large");
        assert_eq!(err.offset, 7);
    }

    #[test]
    fn a_page_passed_through_verifies_like_an_encoded_one() {
        let recs = records(5);
        let page = serde_json::to_vec(&recs).expect("json");
        for compression in [Compression::Gzip, Compression::None] {
            let chunk = encode_page("job", 10, 5, &page, "s", compression, 1 << 20).expect("fits");
            let (header, payload) = decode_message(&chunk.message).expect("decode");
            assert_eq!(header["count"], 5);
            assert_eq!(verify_payload(&header, payload).expect("verify"), recs);
        }
        assert!(encode_page("job", 0, 5, &page, "s", Compression::None, 10).is_none());
    }

    #[test]
    fn a_tampered_payload_fails_its_checksum() {
        let chunks =
            encode("job", 0, &records(2), "s", Compression::None, 1 << 20).expect("encode");
        let mut msg = chunks[0].message.clone();
        let last = msg.len() - 3;
        msg[last] ^= 1;
        let (header, payload) = decode_message(&msg).expect("decode");
        assert!(verify_payload(&header, payload).is_err());
    }

    #[test]
    fn fingerprints_depend_on_the_key_set_only() {
        let a = key_set(&json!({"b": 1, "a": 2}));
        let b = key_set(&json!({"a": 9, "b": "x"}));
        assert_eq!(schema_fingerprint(&a), schema_fingerprint(&b));
        assert_eq!(
            schema_fingerprint(&a),
            "1eb7c54d52831bbf",
            "SHA-256 of \"a,b\""
        );
        assert_ne!(
            schema_fingerprint(&a),
            schema_fingerprint(&key_set(&json!({"a": 1})))
        );
    }
}
