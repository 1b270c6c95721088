//! The optional data-lake sink: each chunk also written as gzip NDJSON at
//! `<sink_dir>/<job id>/<offset>.ndjson.gz` (temp file, fsync, rename) before it counts as
//! delivered.

use std::io::Write;
use std::path::Path;

use super::frame::{decode_message, verify_payload};

/// Writes the records of a chunk message.
///
/// Errors: the message does not decode, or the file cannot be written.
pub fn write_chunk(dir: &Path, job_id: &str, offset: u64, message: &[u8]) -> std::io::Result<()> {
    let (header, payload) = decode_message(message).map_err(std::io::Error::other)?;
    let records = verify_payload(&header, payload).map_err(std::io::Error::other)?;
    let dir = dir.join(job_id);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{offset}.ndjson.gz"));
    let tmp = path.with_extension("tmp");
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(&tmp)?, flate2::Compression::fast());
    for r in &records {
        serde_json::to_writer(&mut gz, r).map_err(std::io::Error::other)?;
        gz.write_all(b"\n")?;
    }
    gz.finish()?.sync_all()?;
    std::fs::rename(tmp, path)
}
