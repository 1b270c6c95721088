//! The stream request, the client's first WebSocket message (seed 003):
//! `{"report_id", "export_job_id"?, "chunk_size_matrix": [n, ...], "compression_format":
//! "gzip"|"none", "max_payload_size": bytes, "schema_version", "ack_window"?,
//! "on_schema_drift"?: "fail"|"warn"}`. Chunk sizes 1..=10 000 (at least one; used in order,
//! the last repeating); `max_payload_size` 1 B..=10 MiB; `ack_window` 0 (default) or more.

use serde_json::Value;

use crate::problem::FieldProblem;

/// Chunk size range (seed 003).
pub const CHUNK_SIZES: std::ops::RangeInclusive<u64> = 1..=10_000;
/// Largest `max_payload_size` (10 MiB, seed 003).
pub const MAX_PAYLOAD: u64 = 10 * 1024 * 1024;
/// Largest `ack_window`.
pub const MAX_ACK_WINDOW: u64 = 1024;

/// Payload compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip.
    Gzip,
    /// none.
    None,
}

impl Compression {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::None => "none",
        }
    }
}

/// What happens on schema drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnDrift {
    /// Report it and close 1011.
    Fail,
    /// Report it and go on with the new shape as baseline.
    Warn,
}

/// A validated stream request.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRequest {
    /// The report to export.
    pub report_id: String,
    /// Resume this export job from its checkpoint.
    pub export_job_id: Option<String>,
    /// Records per chunk, in order, the last repeating.
    pub chunk_size_matrix: Vec<usize>,
    /// Payload compression.
    pub compression: Compression,
    /// Largest compressed payload per chunk, bytes.
    pub max_payload_size: usize,
    /// The client's schema version (echoed in logs).
    pub schema_version: String,
    /// Unacknowledged chunks at most; 0: no acks, the checkpoint advances when written.
    pub ack_window: usize,
    /// Drift handling.
    pub on_schema_drift: OnDrift,
}

impl StreamRequest {
    /// Records per chunk for page `index` (0-based).
    pub fn chunk_size(&self, index: usize) -> usize {
        let m = &self.chunk_size_matrix;
        m[index.min(m.len() - 1)]
    }

    /// The page index at which `offset` starts, assuming full pages before it.
    pub fn page_index_at(&self, offset: u64) -> usize {
        let (mut at, mut i) = (0u64, 0usize);
        while at < offset {
            at += self.chunk_size(i) as u64;
            i += 1;
        }
        i
    }
}

/// Validates the first message.
///
/// Errors: every problem, naming the field.
pub fn validate_request(v: &Value) -> Result<StreamRequest, Vec<FieldProblem>> {
    let Some(obj) = v.as_object() else {
        return Err(vec![FieldProblem::new(
            "",
            "the stream request must be a JSON object",
        )]);
    };
    let mut p = Vec::new();
    const FIELDS: [&str; 9] = [
        "type",
        "report_id",
        "export_job_id",
        "chunk_size_matrix",
        "compression_format",
        "max_payload_size",
        "schema_version",
        "ack_window",
        "on_schema_drift",
    ];
    for key in obj.keys().filter(|k| !FIELDS.contains(&k.as_str())) {
        p.push(FieldProblem::new(key.clone(), "is not a known field"));
    }
    let text = |field: &str, p: &mut Vec<FieldProblem>| match obj.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) if field == "schema_version" => Some(n.to_string()),
        None => {
            p.push(FieldProblem::new(field, "is missing"));
            None
        }
        Some(_) => {
            p.push(FieldProblem::new(field, "must be a non-empty string"));
            None
        }
    };
    let report_id = text("report_id", &mut p);
    let schema_version = text("schema_version", &mut p);
    let export_job_id = match obj.get("export_job_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(_) => {
            p.push(FieldProblem::new(
                "export_job_id",
                "must be a non-empty string",
            ));
            None
        }
    };
    let matrix = match obj.get("chunk_size_matrix") {
        Some(Value::Array(list)) if !list.is_empty() => {
            let mut out = Vec::new();
            for (i, n) in list.iter().enumerate() {
                match n.as_u64().filter(|n| CHUNK_SIZES.contains(n)) {
                    Some(n) => out.push(n as usize),
                    None => p.push(FieldProblem::new(
                        format!("chunk_size_matrix[{i}]"),
                        "must be a whole number within 1..=10000",
                    )),
                }
            }
            Some(out)
        }
        Some(Value::Array(_)) => {
            p.push(FieldProblem::new(
                "chunk_size_matrix",
                "needs at least one chunk size",
            ));
            None
        }
        None => {
            p.push(FieldProblem::new("chunk_size_matrix", "is missing"));
            None
        }
        Some(_) => {
            p.push(FieldProblem::new(
                "chunk_size_matrix",
                "must be a list of chunk sizes",
            ));
            None
        }
    };
    let compression = match obj.get("compression_format").and_then(Value::as_str) {
        Some("gzip") => Some(Compression::Gzip),
        Some("none") => Some(Compression::None),
        _ => {
            p.push(FieldProblem::new(
                "compression_format",
                "must be gzip or none",
            ));
            None
        }
    };
    let max_payload_size = match obj.get("max_payload_size").and_then(Value::as_u64) {
        Some(n) if (1..=MAX_PAYLOAD).contains(&n) => Some(n as usize),
        _ => {
            p.push(FieldProblem::new(
                "max_payload_size",
                "must be a whole number of bytes within 1..=10485760",
            ));
            None
        }
    };
    let ack_window = match obj.get("ack_window") {
        None | Some(Value::Null) => Some(0),
        Some(v) => match v.as_u64().filter(|n| *n <= MAX_ACK_WINDOW) {
            Some(n) => Some(n as usize),
            None => {
                p.push(FieldProblem::new(
                    "ack_window",
                    "must be a whole number within 0..=1024",
                ));
                None
            }
        },
    };
    let on_schema_drift = match obj.get("on_schema_drift") {
        None | Some(Value::Null) => Some(OnDrift::Fail),
        Some(v) => match v.as_str() {
            Some("fail") => Some(OnDrift::Fail),
            Some("warn") => Some(OnDrift::Warn),
            _ => {
                p.push(FieldProblem::new("on_schema_drift", "must be fail or warn"));
                None
            }
        },
    };
    if !p.is_empty() {
        return Err(p);
    }
    match (
        report_id,
        schema_version,
        matrix,
        compression,
        max_payload_size,
        ack_window,
        on_schema_drift,
    ) {
        (
            Some(report_id),
            Some(schema_version),
            Some(chunk_size_matrix),
            Some(compression),
            Some(max_payload_size),
            Some(ack_window),
            Some(on_schema_drift),
        ) => Ok(StreamRequest {
            report_id,
            export_job_id,
            chunk_size_matrix,
            compression,
            max_payload_size,
            schema_version,
            ack_window,
            on_schema_drift,
        }),
        _ => Err(vec![FieldProblem::new(
            "",
            "the stream request is incomplete",
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({"report_id": "r", "chunk_size_matrix": [100, 500], "compression_format": "gzip",
               "max_payload_size": 1048576, "schema_version": "1"})
    }

    #[test]
    fn a_valid_request_gets_the_defaults() {
        let r = validate_request(&valid()).expect("valid");
        assert_eq!(
            (r.ack_window, r.on_schema_drift, r.compression),
            (0, OnDrift::Fail, Compression::Gzip)
        );
        assert_eq!(
            (r.chunk_size(0), r.chunk_size(1), r.chunk_size(9)),
            (100, 500, 500)
        );
        assert_eq!(r.page_index_at(0), 0);
        assert_eq!(r.page_index_at(100), 1);
        assert_eq!(r.page_index_at(1100), 3);
    }

    #[test]
    fn every_problem_names_its_field() {
        let err = validate_request(
            &json!({"chunk_size_matrix": [0, 10001, 5], "compression_format": "zip",
            "max_payload_size": 0, "ack_window": -1, "on_schema_drift": "ignore", "extra": 1}),
        )
        .expect_err("invalid");
        let mut fields: Vec<&str> = err.iter().map(|p| p.field.as_str()).collect();
        fields.sort();
        assert_eq!(
            fields,
            vec![
                "ack_window",
                "chunk_size_matrix[0]",
                "chunk_size_matrix[1]",
                "compression_format",
                "extra",
                "max_payload_size",
                "on_schema_drift",
                "report_id",
                "schema_version"
            ]
        );
        let mut v = valid();
        v["chunk_size_matrix"] = json!([]);
        assert_eq!(
            validate_request(&v).expect_err("empty")[0].field,
            "chunk_size_matrix"
        );
        v["chunk_size_matrix"] = json!([1]);
        v["max_payload_size"] = json!(10 * 1024 * 1024 + 1);
        assert_eq!(
            validate_request(&v).expect_err("too big")[0].field,
            "max_payload_size"
        );
    }
}
