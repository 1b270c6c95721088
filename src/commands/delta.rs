//! `switchboard delta apply --data-store ID --conflict MODE [--update-type UPSERT|UPDATE] FILE`:
//! applies a JSON-lines file (one record `{"id", "version"?, "fields"}` per line, blank lines
//! ignored) as a delta set, streaming, in memory that does not grow with the file.
//!
//! Validation first, so nothing is sent for an invalid file: every line is parsed (a borrowed,
//! typed parse; a line that fails it is validated in full to name the problem, with its line
//! number and record id), and duplicate ids are found with a Bloom filter (at most 16 MiB)
//! followed by an exact look at the ids it flagged. Then a reader thread parses and prepares
//! batch n+1 (payload serialised once, `fields` kept verbatim, checksum) while batch n is in
//! flight; batches go one at a time, in order, stopping at the first that is not applied. A
//! progress bar goes to stderr (when it is a terminal); a JSON summary to stdout. Exit 0 when
//! every batch was applied.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value};
use switchboard_actors::deltas::batch::batch_size;
use switchboard_actors::deltas::{
    prepare, validate_record, ApplyBatch, BatchStatus, ConflictResolution, DeltaBatchActor,
    PreparedBatch, Problems, UpdateType,
};
use switchboard_actors::problem::FieldProblem;

use super::delta_lines::{fast_parse, IdFilter, RawRecord};
use super::{cxone_runtime, eprint_json, flush_audit, print_json, start_supervised};
use crate::config::Settings;
use crate::error::ApiError;

/// Prepared batches waiting ahead of the one in flight.
pub const READ_AHEAD: usize = 2;

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

/// Non-blank lines with their 1-based numbers.
fn lines(file: &Path) -> anyhow::Result<impl Iterator<Item = anyhow::Result<(usize, String)>>> {
    let reader = BufReader::with_capacity(
        1 << 16,
        File::open(file).with_context(|| format!("cannot open {}", file.display()))?,
    );
    Ok(reader
        .lines()
        .enumerate()
        .map(|(i, l)| {
            l.map(|l| (i + 1, l))
                .with_context(|| format!("reading line {}", i + 1))
        })
        .filter(|r| r.as_ref().map_or(true, |(_, l)| !l.trim().is_empty())))
}

/// Pass 1: validates every line; returns the record count.
///
/// Errors: the file cannot be read; `Ok(Err(problems))` when lines are invalid.
pub fn validate_file(file: &Path) -> anyhow::Result<Result<usize, Vec<FieldProblem>>> {
    let size = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let mut filter = IdFilter::for_ids(size / 24 + 1);
    let mut flagged: HashSet<String> = HashSet::new();
    let mut problems = Problems::default();
    let mut count = 0;
    for line in lines(file)? {
        let (line_no, line) = line?;
        let id = match fast_parse(&line) {
            Some(record) => Some(record.id),
            None => match serde_json::from_str::<Value>(&line) {
                Err(e) => {
                    problems.push(FieldProblem::new(
                        format!("line {line_no}"),
                        format!("is not JSON: {e}"),
                    ));
                    None
                }
                Ok(value) => {
                    let label = format!("line {line_no}");
                    let mut found = Problems::default();
                    let record = validate_record(&value, count, &mut found);
                    for p in found.into_vec() {
                        let field = p.field.replacen(&format!("records[{count}]"), &label, 1);
                        problems.push(FieldProblem::new(field, p.message));
                    }
                    // A line with other problems still takes part in the duplicate check.
                    record.map(|r| Cow::Owned(r.id)).or_else(|| {
                        value["id"]
                            .as_str()
                            .filter(|id| !id.trim().is_empty())
                            .map(|id| Cow::Owned(id.to_owned()))
                    })
                }
            },
        };
        if let Some(id) = id {
            if filter.insert(&id) {
                flagged.insert(id.into_owned());
            }
        }
        count += 1;
    }
    if count == 0 {
        problems.push(FieldProblem::new("records", "the delta set is empty"));
    }
    if !flagged.is_empty() {
        find_duplicates(file, &flagged, &mut problems)?;
    }
    Ok(if problems.is_empty() {
        Ok(count)
    } else {
        Err(problems.into_vec())
    })
}

/// Pass 1b, only for ids the filter flagged: the exact duplicates, with both lines.
fn find_duplicates(
    file: &Path,
    flagged: &HashSet<String>,
    problems: &mut Problems,
) -> anyhow::Result<()> {
    let mut first: HashMap<String, usize> = HashMap::new();
    for line in lines(file)? {
        let (line_no, line) = line?;
        let Some(id) = fast_parse(&line).map(|r| r.id.into_owned()).or_else(|| {
            serde_json::from_str::<Value>(&line)
                .ok()
                .and_then(|v| v["id"].as_str().map(String::from))
        }) else {
            continue;
        };
        if !flagged.contains(&id) {
            continue;
        }
        match first.get(&id) {
            Some(earlier) => problems.push(FieldProblem::new(
                format!("line {line_no}.id"),
                format!("record {id:?} is a duplicate of line {earlier}"),
            )),
            None => {
                first.insert(id, line_no);
            }
        }
    }
    Ok(())
}

/// Pass 2 on a thread of its own: reads the file again and prepares batches, at most
/// [`READ_AHEAD`] ahead of the sender.
fn read_batches(
    file: PathBuf,
    what: DeltaApply,
    size: usize,
) -> tokio::sync::mpsc::Receiver<anyhow::Result<PreparedBatch>> {
    let (tx, rx) = tokio::sync::mpsc::channel(READ_AHEAD);
    std::thread::spawn(move || {
        let run = || -> anyhow::Result<()> {
            let mut chunk: Vec<RawRecord> = Vec::with_capacity(size);
            let mut index = 0;
            let send = |chunk: &mut Vec<RawRecord>, index: &mut usize| -> bool {
                let batch = prepare(
                    *index,
                    &what.data_store_id,
                    chunk,
                    what.update_type,
                    what.conflict,
                );
                chunk.clear();
                *index += 1;
                tx.blocking_send(Ok(batch)).is_ok()
            };
            for line in lines(&file)? {
                let (line_no, line) = line?;
                let record = match fast_parse(&line) {
                    Some(r) => r.to_raw(),
                    None => {
                        let value: Value = serde_json::from_str(&line)
                            .with_context(|| format!("line {line_no} changed since validation"))?;
                        let r = validate_record(&value, 0, &mut Problems::default())
                            .with_context(|| format!("line {line_no} changed since validation"))?;
                        RawRecord {
                            id: r.id,
                            version: r.version,
                            fields: serde_json::value::to_raw_value(&r.fields)?,
                        }
                    }
                };
                chunk.push(record);
                if chunk.len() == size && !send(&mut chunk, &mut index) {
                    return Ok(());
                }
            }
            if !chunk.is_empty() {
                send(&mut chunk, &mut index);
            }
            Ok(())
        };
        if let Err(e) = run() {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
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
    let bar = ProgressBar::new(total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let (mut applied, mut skipped, mut conflicts, mut not_found, mut batches) = (0, 0, 0, 0, 0);
    let mut stopped: Option<Value> = None;
    let mut prepared = read_batches(
        file.to_path_buf(),
        what.clone(),
        batch_size(settings.deltas.max_batch_size),
    );
    while let Some(batch) = prepared.recv().await {
        let result = actor
            .send(ApplyBatch {
                data_store_id: what.data_store_id.clone(),
                batch: batch?,
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
    drop(prepared);
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
        assert_eq!(fields, vec!["line 2", "line 3.fields", "line 3.id"]);
        assert!(problems[1].message.contains("\"a\""));
        assert_eq!(problems[2].message, "record \"a\" is a duplicate of line 1");
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

    #[actix_rt::test]
    async fn the_reader_prepares_batches_in_order_with_fields_verbatim() {
        let p = file_with("{\"id\":\"a\",\"fields\":{\"x\":1.50}}\n{\"id\":\"b\",\"version\":3,\"fields\":{\"y\":\"z\"}}\n{\"id\":\"c\",\"fields\":{\"w\":null}}\n");
        let what = DeltaApply {
            data_store_id: "ds".into(),
            conflict: ConflictResolution::Fail,
            update_type: UpdateType::Upsert,
        };
        let mut rx = read_batches(p, what, 2);
        let first = rx.recv().await.expect("batch").expect("ok");
        let second = rx.recv().await.expect("batch").expect("ok");
        assert!(rx.recv().await.is_none());
        assert_eq!(
            (first.index, first.size, second.index, second.size),
            (0, 2, 1, 1)
        );
        let body = String::from_utf8(first.body).expect("utf8");
        assert!(body.contains(r#"{"id":"a","fields":{"x":1.50}}"#), "{body}");
        assert!(body.contains(r#""batchSize":2"#));
    }
}
