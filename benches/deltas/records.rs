//! The records file: written once, then read back into batches the way the CLI does.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use actix_web::web::Bytes;
use anyhow::Context as _;
use serde_json::Value;
use switchboard_actors::deltas::batch::API_MAX_BATCH;
use switchboard_actors::deltas::{
    prepare, validate_record, ConflictResolution, Problems, UpdateType,
};

/// Writes `n` records, one JSON line each; returns the file's size in bytes.
pub(crate) fn write_records(path: &Path, n: usize) -> anyhow::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    for i in 0..n {
        writeln!(
            out,
            r#"{{"id":"r{i}","fields":{{"status":"active","score":{i},"note":"callback about the invoice"}}}}"#
        )?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Reads, validates and batches `file` as the CLI does; returns each batch's body and checksum.
pub(crate) fn load_batches(
    file: &Path,
    data_store_id: &str,
) -> anyhow::Result<Vec<(Bytes, String)>> {
    let mut batches = Vec::new();
    let mut chunk = Vec::with_capacity(API_MAX_BATCH);
    let flush = |chunk: &mut Vec<_>, batches: &mut Vec<(Bytes, String)>| {
        let b = prepare(
            batches.len(),
            data_store_id,
            chunk,
            UpdateType::Upsert,
            ConflictResolution::Overwrite,
        );
        batches.push((Bytes::from(b.body), b.checksum));
        chunk.clear();
    };
    for (i, line) in BufReader::with_capacity(1 << 16, File::open(file)?)
        .lines()
        .enumerate()
    {
        let value: Value = serde_json::from_str(&line?)?;
        let record = validate_record(&value, i, &mut Problems::default())
            .with_context(|| format!("line {} is not a record", i + 1))?;
        chunk.push(record);
        if chunk.len() == API_MAX_BATCH {
            flush(&mut chunk, &mut batches);
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk, &mut batches);
    }
    Ok(batches)
}
