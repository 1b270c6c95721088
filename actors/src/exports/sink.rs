//! The optional data-lake sink: each chunk also written as gzip NDJSON at
//! `<sink_dir>/<job id>/<offset>.ndjson.gz` (temp file, fsync, rename) before it counts as
//! delivered.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

/// Writes the records of the chunk at `offset`, one JSON line each.
///
/// Errors: the file cannot be written.
pub fn write_chunk(
    dir: &Path,
    job_id: &str,
    offset: u64,
    records: &[Value],
) -> std::io::Result<()> {
    let dir = dir.join(job_id);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{offset}.ndjson.gz"));
    let tmp = path.with_extension("tmp");
    let mut gz =
        flate2::write::GzEncoder::new(std::fs::File::create(&tmp)?, flate2::Compression::fast());
    for r in records {
        serde_json::to_writer(&mut gz, r).map_err(std::io::Error::other)?;
        gz.write_all(b"\n")?;
    }
    gz.finish()?.sync_all()?;
    std::fs::rename(tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Read;

    #[test]
    fn a_chunk_is_written_as_gzip_ndjson_at_its_offset() {
        let dir = std::env::temp_dir().join(format!("sb-sink-{}", uuid::Uuid::new_v4()));
        let records = vec![json!({"id": "a", "n": 1.5}), json!({"id": "b", "n": -2})];
        write_chunk(&dir, "job", 40, &records).expect("write");
        let mut text = String::new();
        flate2::read::GzDecoder::new(
            std::fs::File::open(dir.join("job/40.ndjson.gz")).expect("file"),
        )
        .read_to_string(&mut text)
        .expect("gzip");
        assert_eq!(text, "{\"id\":\"a\",\"n\":1.5}\n{\"id\":\"b\",\"n\":-2}\n");
        assert!(
            !dir.join("job/40.ndjson.tmp").exists(),
            "renamed into place"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
