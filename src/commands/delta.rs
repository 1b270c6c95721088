//! `switchboard delta apply --data-store ID --conflict MODE [--update-type UPSERT|UPDATE] FILE`:
//! applies a JSON-lines file (one record `{"id", "version"?, "fields"}` per line, blank lines
//! ignored) as a delta set, streaming: memory does not grow with the file.
//!
//! Two passes. The first validates every line (problems name the line and the record id;
//! duplicate ids are found through 64-bit hashes of the ids, 8 bytes per record) so nothing is
//! sent for an invalid file. The second reads the file again and sends it batch by batch,
//! in order, stopping at the first batch that is not applied. A progress bar goes to stderr
//! (when it is a terminal); a JSON summary to stdout. Exit 0 when every batch was applied.

use std::collections::HashSet;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use switchboard_actors::deltas::batch::batch_size;
use switchboard_actors::deltas::{
    prepare, validate_record, ApplyBatch, BatchStatus, ConflictResolution, DeltaBatchActor,
    DeltaRecord, Problems, UpdateType,
};
use switchboard_actors::problem::FieldProblem;

use super::{cxone_runtime, eprint_json, flush_audit, print_json, start_supervised};
use crate::config::Settings;
use crate::error::ApiError;

/// What to apply.
#[derive(Debug, Clone)]
pub struct DeltaApply {
    /// The data store.
    pub data_store_id: String,
    /// Conflict resolution.
    pub conflict: ConflictResolution,
    /// Update type.
    pub update_type: UpdateType,
}

fn lines(file: &Path) -> anyhow::Result<impl Iterator<Item = (usize, std::io::Result<String>)>> {
    let reader = BufReader::with_capacity(
        1 << 16,
        File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    Ok(reader.lines().enumerate().map(|(i, l)| (i + 1, l)))
}

fn id_hash(id: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

/// Pass 1: validates every line; returns the record count.
///
/// Errors: the file cannot be read; `Ok(Err(problems))` when lines are invalid.
pub fn validate_file(file: &Path) -> anyhow::Result<Result<usize, Vec<FieldProblem>>> {
    let mut problems = Problems::default();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut count = 0;
    for (line_no, line) in lines(file)? {
        let line = line.with_context(|| format!("reading line {line_no}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let label = format!("line {line_no}");
        let value: Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                problems.push(FieldProblem::new(label, format!("is not JSON: {e}")));
                continue;
            }
        };
        let mut line_problems = Problems::default();
        if let Some(record) = validate_record(&value, count, &mut line_problems) {
            if !seen.insert(id_hash(&record.id)) {
                problems.push(FieldProblem::new(
                    format!("{label}.id"),
                    format!("record {:?} is a duplicate of an earlier line", record.id),
                ));
            }
        }
        for p in line_problems.into_vec() {
            let field = p.field.replacen(&format!("records[{count}]"), &label, 1);
            problems.push(FieldProblem::new(field, p.message));
        }
        count += 1;
    }
    if count == 0 {
        problems.push(FieldProblem::new("records", "the delta set is empty"));
    }
    Ok(if problems.is_empty() {
        Ok(count)
    } else {
        Err(problems.into_vec())
    })
}

/// Runs the command; returns whether every batch was applied.
///
/// Errors: the file cannot be read, or start-up fails.
pub async fn apply(settings: Settings, file: &Path, what: DeltaApply) -> anyhow::Result<bool> {
    if what.data_store_id.trim().is_empty() {
        eprint_json(
            &ApiError::validation(
                "invalid_delta",
                vec![FieldProblem::new("data_store_id", "must not be empty")],
            )
            .body(),
        );
        return Ok(false);
    }
    let total = match validate_file(file)? {
        Ok(n) => n,
        Err(details) => {
            eprint_json(&ApiError::validation("invalid_delta", details).body());
            return Ok(false);
        }
    };
    let runtime = cxone_runtime(&settings)?;
    let actor = start_supervised(DeltaBatchActor::new(
        runtime.handle.clone(),
        settings.deltas.clone(),
        Some(runtime.audit.clone()),
    ));
    let size = batch_size(settings.deltas.max_batch_size);
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let (mut applied, mut skipped, mut conflicts, mut not_found, mut batches) = (0, 0, 0, 0, 0);
    let mut stopped: Option<Value> = None;
    let mut chunk: Vec<DeltaRecord> = Vec::with_capacity(size);
    let mut lines = lines(file)?.peekable();
    while lines.peek().is_some() || !chunk.is_empty() {
        for (line_no, line) in lines.by_ref() {
            let line = line.with_context(|| format!("reading line {line_no}"))?;
            if line.trim().is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&line)
                .with_context(|| format!("line {line_no} changed since validation"))?;
            let record = validate_record(&value, 0, &mut Problems::default())
                .with_context(|| format!("line {line_no} changed since validation"))?;
            chunk.push(record);
            if chunk.len() == size {
                break;
            }
        }
        if chunk.is_empty() {
            break;
        }
        let batch = prepare(
            batches,
            &what.data_store_id,
            &chunk,
            what.update_type,
            what.conflict,
        );
        chunk.clear();
        let result = actor
            .send(ApplyBatch {
                data_store_id: what.data_store_id.clone(),
                batch,
            })
            .await
            .context("delta actor")?;
        batches += 1;
        applied += result.applied;
        skipped += result.skipped.len();
        conflicts += result.conflicts.len();
        not_found += result.not_found.len();
        bar.inc(result.size as u64);
        if result.status != BatchStatus::Applied {
            stopped = Some(json!({
                "index": result.index,
                "status": result.status,
                "checksum": result.checksum,
                "error": result.error,
                "conflicts": result.conflicts,
            }));
            break;
        }
    }
    bar.finish_and_clear();
    flush_audit(&runtime).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let ok = stopped.is_none();
    print_json(&json!({
        "data_store_id": what.data_store_id,
        "records": total,
        "batches_sent": batches,
        "applied": applied,
        "skipped": skipped,
        "conflicts": conflicts,
        "not_found": not_found,
        "elapsed_ms": (elapsed * 1000.0).round(),
        "records_per_sec": (applied as f64 / elapsed.max(1e-9)).round(),
        "stopped_at": stopped,
    }));
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(lines: &str) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("sb-delta-{}.jsonl", uuid::Uuid::new_v4()));
        std::fs::write(&p, lines).expect("write");
        p
    }

    #[test]
    fn a_valid_file_counts_its_records_and_skips_blank_lines() {
        let p = file_with("{\"id\":\"a\",\"fields\":{\"x\":1}}\n\n{\"id\":\"b\",\"version\":2,\"fields\":{\"y\":2}}\n");
        assert_eq!(validate_file(&p).expect("read").expect("valid"), 2);
    }

    #[test]
    fn problems_name_the_line_and_the_record() {
        let p = file_with(
            "{\"id\":\"a\",\"fields\":{\"x\":1}}\nnot json\n{\"id\":\"a\",\"fields\":{}}\n",
        );
        let problems = validate_file(&p).expect("read").expect_err("invalid");
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, vec!["line 2", "line 3.fields"]);
        assert!(problems[1].message.contains("\"a\""));
        let p =
            file_with("{\"id\":\"a\",\"fields\":{\"x\":1}}\n{\"id\":\"a\",\"fields\":{\"x\":2}}\n");
        let problems = validate_file(&p).expect("read").expect_err("duplicate");
        assert_eq!(problems[0].field, "line 2.id");
        let p = file_with("\n\n");
        assert_eq!(
            validate_file(&p).expect("read").expect_err("empty")[0].field,
            "records"
        );
    }
}
