//! An export report as the sandbox keeps it; [`reports`](crate::reports) parses it from
//! `POST /sandbox/reports` and generates its records.

use serde::Serialize;

/// A registered report. JSON (the 201 answer): `{"id": string, "records": u64,
/// "drift_at": u64 or null, "seed": u64}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportSpec {
    /// The report id, used as `report_id` when starting an export.
    pub id: String,
    /// Records in the report, 0..=10 000 000 (offsets `0..records`).
    pub records: u64,
    /// First offset whose records have the drifted shape (`channel` instead of `region`);
    /// `None`: no drift.
    pub drift_at: Option<u64>,
    /// Seed of the generated values.
    pub seed: u64,
}
