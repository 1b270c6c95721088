//! Export reports: registered through `POST /sandbox/reports`, their records generated on
//! demand from `(seed, offset)` so a 10-million-record report costs no memory, with schema
//! drift from a chosen offset on. Exported by [`exports`](super::exports).

use actix_web::{web, HttpResponse};
use chrono::{DateTime, SecondsFormat};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::state::{ReportSpec, Shared};

/// Most records a report may have.
pub const MAX_REPORT_RECORDS: u64 = 10_000_000;

/// Longest report id accepted, in bytes.
pub const MAX_REPORT_ID_BYTES: usize = 200;

/// Regions of records before the drift offset ([`REGIONS`], chosen uniformly) and channels
/// of records from the drift offset on ([`CHANNELS`], chosen uniformly): the values webhook
/// events carry.
pub use super::events::{CHANNELS, REGIONS};

/// `created_at` of the record at offset 0 is within the minute after this (2024-01-01T00:00Z,
/// Unix seconds); each later offset is one minute later.
const FIRST_CREATED_AT_SECS: i64 = 1_704_067_200;

/// Odd constant spreading offsets over the seed space (2^64 / golden ratio).
const OFFSET_MIX: u64 = 0x9E37_79B9_7F4A_7C15;

/// One generated record. JSON: `{"id": "<report>-<offset>", "seq": offset, "customer":
/// "CUST-nnnnnn", "amount": f64 (two decimals, 1.00..=9999.99), "region": string,
/// "created_at": RFC 3339 UTC}`; from the drift offset on `region` is gone and `"channel":
/// string` takes its place. Every other value is the same with or without drift.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExportRecord {
    /// Unique within the report: `<report id>-<offset>`.
    pub id: String,
    /// The record's offset in the report.
    pub seq: u64,
    /// A customer reference.
    pub customer: String,
    /// An amount with two decimals.
    pub amount: f64,
    /// Before the drift offset: one of [`REGIONS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'static str>,
    /// From the drift offset on: one of [`CHANNELS`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<&'static str>,
    /// When the record was created: RFC 3339 UTC, whole seconds.
    pub created_at: String,
}

impl ReportSpec {
    /// Parses a `POST /sandbox/reports` body: `{"id": non-empty string (≤ 200 bytes),
    /// "records": 0..=10000000, "drift_at"?: u64 or null, "seed"?: u64 (default 0)}`.
    ///
    /// Errors: [`ApiError::InvalidReport`] naming every bad, missing or unknown field.
    pub fn parse(body: &[u8]) -> Result<ReportSpec, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::InvalidReport(format!("body is not valid JSON: {e}")))?;
        let Value::Object(fields) = value else {
            return Err(ApiError::InvalidReport(
                "body must be a JSON object {\"id\", \"records\", \"drift_at\", \"seed\"}"
                    .to_owned(),
            ));
        };
        Self::from_fields(&fields)
    }

    fn from_fields(fields: &Map<String, Value>) -> Result<ReportSpec, ApiError> {
        let mut problems = Vec::new();
        for name in fields.keys() {
            if !["id", "records", "drift_at", "seed"].contains(&name.as_str()) {
                problems.push(format!("field `{name}` is not known"));
            }
        }
        let id = match fields.get("id") {
            Some(Value::String(id)) if !id.is_empty() && id.len() <= MAX_REPORT_ID_BYTES => {
                id.clone()
            }
            Some(_) => {
                problems.push("field `id` must be a non-empty string of at most 200 bytes".into());
                String::new()
            }
            None => {
                problems.push("field `id` is required".to_owned());
                String::new()
            }
        };
        let records = match fields.get("records").map(Value::as_u64) {
            Some(Some(n)) if n <= MAX_REPORT_RECORDS => n,
            Some(_) => {
                problems.push("field `records` must be an integer from 0 to 10000000".to_owned());
                0
            }
            None => {
                problems.push("field `records` is required".to_owned());
                0
            }
        };
        let drift_at = match fields.get("drift_at") {
            None | Some(Value::Null) => None,
            Some(value) => {
                if value.as_u64().is_none() {
                    problems.push("field `drift_at` must be a non-negative integer or null".into());
                }
                value.as_u64()
            }
        };
        let seed = match fields.get("seed") {
            None | Some(Value::Null) => 0,
            Some(value) => value.as_u64().unwrap_or_else(|| {
                problems.push("field `seed` must be an unsigned 64-bit integer".to_owned());
                0
            }),
        };
        if !problems.is_empty() {
            return Err(ApiError::InvalidReport(problems.join("; ")));
        }
        Ok(ReportSpec {
            id,
            records,
            drift_at,
            seed,
        })
    }

    /// The record at `offset` (any offset, even past the end): the same for the same seed,
    /// report id and offset, every time.
    pub fn record_at(&self, offset: u64) -> ExportRecord {
        let mut rng = StdRng::seed_from_u64(self.seed ^ offset.wrapping_mul(OFFSET_MIX));
        let customer = format!("CUST-{:06}", rng.random_range(0..1_000_000u32));
        let cents: u32 = rng.random_range(100..1_000_000);
        let region = REGIONS[rng.random_range(0..REGIONS.len())];
        let channel = CHANNELS[rng.random_range(0..CHANNELS.len())];
        let second: i64 = rng.random_range(0..60);
        let drifted = self.drift_at.is_some_and(|k| offset >= k);
        // Offsets are at most 10 million in practice; saturate rather than overflow.
        let minutes = i64::try_from(offset).unwrap_or(i64::MAX / 120);
        let created = FIRST_CREATED_AT_SECS
            .saturating_add(minutes.saturating_mul(60))
            .saturating_add(second);
        let created_at = DateTime::from_timestamp(created, 0)
            .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default();
        ExportRecord {
            id: format!("{}-{offset}", self.id),
            seq: offset,
            customer,
            amount: f64::from(cents) / 100.0,
            region: (!drifted).then_some(region),
            channel: drifted.then_some(channel),
            created_at,
        }
    }

    /// The records at offsets `[offset, offset + limit)` that exist (empty at and past the end).
    pub fn page(&self, offset: u64, limit: u64) -> Vec<ExportRecord> {
        let end = offset.saturating_add(limit).min(self.records);
        (offset..end).map(|i| self.record_at(i)).collect()
    }
}

/// `POST /sandbox/reports`: registers (or replaces) an export report (see
/// [`ReportSpec::parse`]). Export jobs started earlier keep the report as it was.
///
/// Answers 201 `{"id", "records", "drift_at", "seed"}`. Errors: 400 `invalid_report`
/// naming each bad field; nothing is registered then.
pub async fn register_report(
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let spec = ReportSpec::parse(&body)?;
    shared.lock().reports.insert(spec.id.clone(), spec.clone());
    log::info!(
        "component=sandbox event=report_registered report_id={} records={} drift_at={:?}; export report registered",
        spec.id,
        spec.records,
        spec.drift_at
    );
    Ok(HttpResponse::Created().json(&spec))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn spec(records: u64, drift_at: Option<u64>, seed: u64) -> ReportSpec {
        ReportSpec {
            id: "r".to_owned(),
            records,
            drift_at,
            seed,
        }
    }

    fn invalid(body: &str) -> String {
        match ReportSpec::parse(body.as_bytes()) {
            Err(ApiError::InvalidReport(message)) => message,
            other => panic!("expected invalid_report for {body}, got {other:?}"),
        }
    }

    #[test]
    fn a_report_body_is_parsed_with_defaults() {
        let parsed = ReportSpec::parse(
            br#"{"id": "big", "records": 10000000, "drift_at": 5, "seed": 18446744073709551615}"#,
        )
        .expect("valid");
        assert_eq!(parsed.records, 10_000_000);
        assert_eq!(parsed.drift_at, Some(5));
        assert_eq!(parsed.seed, u64::MAX);
        let minimal =
            ReportSpec::parse(br#"{"id": "r", "records": 0, "drift_at": null}"#).expect("valid");
        assert_eq!(minimal, spec(0, None, 0));
    }

    #[test]
    fn report_problems_name_the_field() {
        assert!(invalid(r#"{"records": 1}"#).contains("`id`"));
        assert!(invalid(r#"{"id": "", "records": 1}"#).contains("`id`"));
        assert!(invalid(r#"{"id": "r"}"#).contains("`records`"));
        assert!(invalid(r#"{"id": "r", "records": 10000001}"#).contains("`records`"));
        assert!(invalid(r#"{"id": "r", "records": -1}"#).contains("`records`"));
        assert!(invalid(r#"{"id": "r", "records": 1, "drift_at": "x"}"#).contains("`drift_at`"));
        assert!(invalid(r#"{"id": "r", "records": 1, "seed": 1.5}"#).contains("`seed`"));
        assert!(invalid(r#"{"id": "r", "records": 1, "rows": 1}"#).contains("`rows`"));
        invalid("[]");
        invalid("nope");
    }

    #[test]
    fn records_are_deterministic_and_ids_unique() {
        let report = spec(1000, None, 42);
        assert_eq!(report.page(0, 1000), report.page(0, 1000));
        assert_eq!(report.record_at(17), report.page(10, 10)[7]);
        let ids: HashSet<String> = report.page(0, 1000).into_iter().map(|r| r.id).collect();
        assert_eq!(ids.len(), 1000);
        assert_ne!(spec(1000, None, 43).record_at(0), report.record_at(0));
        let first = serde_json::to_value(report.record_at(3)).expect("serialisable");
        let keys: Vec<&str> = first
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["id", "seq", "customer", "amount", "region", "created_at"]
        );
        assert_eq!(first["id"], "r-3");
        assert_eq!(first["seq"], 3);
        assert!(first["created_at"]
            .as_str()
            .is_some_and(|t| t.starts_with("2024-01-01T00:0")));
    }

    #[test]
    fn from_the_drift_offset_on_region_is_replaced_by_channel() {
        let plain = spec(100, None, 7);
        let drifting = spec(100, Some(50), 7);
        for offset in [0, 49] {
            assert_eq!(drifting.record_at(offset), plain.record_at(offset));
            assert!(drifting.record_at(offset).region.is_some());
        }
        for offset in [50, 99] {
            let drifted = drifting.record_at(offset);
            let before = plain.record_at(offset);
            assert_eq!(drifted.region, None);
            assert!(drifted.channel.is_some_and(|c| CHANNELS.contains(&c)));
            assert_eq!((drifted.id, drifted.amount), (before.id, before.amount));
        }
        let value = serde_json::to_value(drifting.record_at(60)).expect("serialisable");
        assert!(value.get("region").is_none() && value.get("channel").is_some());
    }

    #[test]
    fn pages_stop_at_the_end_and_far_offsets_cost_nothing() {
        let report = spec(10_000_000, Some(9_000_000), 1);
        assert_eq!(report.page(9_999_995, 10).len(), 5);
        assert!(report.page(10_000_000, 10).is_empty());
        assert!(report.page(u64::MAX, u64::MAX).is_empty());
        let started = std::time::Instant::now();
        let page = report.page(9_990_000, 10_000);
        assert_eq!(page.len(), 10_000);
        assert_eq!(page[0].seq, 9_990_000);
        // Milliseconds in release; generous for unoptimised test builds.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
