//! Results of delta batches and of a whole run: `{"data_store_id", "batches": [{"index",
//! "size", "checksum", "status", "applied", "skipped", "conflicts", "not_found",
//! "latency_ms", "replication"?}], "totals": {"records", "applied", "skipped", "conflicts",
//! "not_found"}, "metrics": {"success_rate", "average_latency_ms", "records_per_sec"}}`
//! (`applied` a count, the others lists of record ids).

use serde::Serialize;
use serde_json::{Map, Value};

/// How a batch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BatchStatus {
    /// Accepted by the API (with IGNORE, some records may be skipped).
    Applied,
    /// FAIL met a conflict: the API applied nothing of it (409); the run stopped.
    Conflict,
    /// The API's checksum differs from ours; the run stopped.
    IntegrityError,
    /// The API refused it or could not be reached; the run stopped.
    Failed,
    /// Not sent: an earlier batch stopped the run.
    NotSent,
}

impl BatchStatus {
    /// The status as serialised (`applied`, `conflict`, `integrity_error`, `failed`,
    /// `not_sent`), for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Applied => "applied",
            BatchStatus::Conflict => "conflict",
            BatchStatus::IntegrityError => "integrity_error",
            BatchStatus::Failed => "failed",
            BatchStatus::NotSent => "not_sent",
        }
    }
}

/// Delivery of a batch's replication event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Replication {
    /// `delivered` or `failed`.
    #[schema(value_type = String, pattern = "^(delivered|failed)$")]
    pub status: &'static str,
    /// Attempts made.
    pub attempts: u32,
    /// Last error, when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One batch's result.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BatchResult {
    /// Position in the run.
    pub index: usize,
    /// Records in it.
    pub size: usize,
    /// Our checksum of its payload.
    pub checksum: String,
    /// How it ended.
    pub status: BatchStatus,
    /// Records applied.
    pub applied: usize,
    /// Records not applied (ignored conflicts, not found).
    pub skipped: Vec<String>,
    /// Records whose version conflicted.
    pub conflicts: Vec<String>,
    /// UPDATE records that do not exist.
    pub not_found: Vec<String>,
    /// New versions of applied records (record id → version).
    #[serde(skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub versions: Map<String, Value>,
    /// Milliseconds for the PATCH, retries included.
    pub latency_ms: u64,
    /// The replication event's delivery, when replication is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replication: Option<Replication>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BatchResult {
    /// A batch that was not sent.
    pub fn not_sent(index: usize, size: usize, checksum: String) -> Self {
        BatchResult {
            index,
            size,
            checksum,
            status: BatchStatus::NotSent,
            applied: 0,
            skipped: Vec::new(),
            conflicts: Vec::new(),
            not_found: Vec::new(),
            versions: Map::new(),
            latency_ms: 0,
            replication: None,
            error: None,
        }
    }
}

/// Sums over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Totals {
    /// Records in the set.
    pub records: usize,
    /// Records applied.
    pub applied: usize,
    /// Records skipped.
    pub skipped: Vec<String>,
    /// Records that conflicted.
    pub conflicts: Vec<String>,
    /// Records not found.
    pub not_found: Vec<String>,
}

/// Rates over a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RunMetrics {
    /// Applied batches / sent batches (0..=1).
    pub success_rate: f64,
    /// Mean PATCH latency over sent batches, ms.
    pub average_latency_ms: f64,
    /// Applied records per second of wall clock.
    pub records_per_sec: f64,
}

/// A whole run.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DeltaReport {
    /// The data store.
    pub data_store_id: String,
    /// Every batch, in order (those after a stop as `not_sent`).
    pub batches: Vec<BatchResult>,
    /// Sums.
    pub totals: Totals,
    /// Rates.
    pub metrics: RunMetrics,
}

impl DeltaReport {
    /// Builds the report from batch results and the run's wall clock (seconds).
    pub fn new(
        data_store_id: String,
        records: usize,
        batches: Vec<BatchResult>,
        wall_secs: f64,
    ) -> Self {
        let mut totals = Totals {
            records,
            ..Totals::default()
        };
        for b in &batches {
            totals.applied += b.applied;
            totals.skipped.extend(b.skipped.iter().cloned());
            totals.conflicts.extend(b.conflicts.iter().cloned());
            totals.not_found.extend(b.not_found.iter().cloned());
        }
        let sent: Vec<&BatchResult> = batches
            .iter()
            .filter(|b| b.status != BatchStatus::NotSent)
            .collect();
        let ok = sent
            .iter()
            .filter(|b| b.status == BatchStatus::Applied)
            .count();
        let metrics = RunMetrics {
            success_rate: if sent.is_empty() {
                0.0
            } else {
                ok as f64 / sent.len() as f64
            },
            average_latency_ms: if sent.is_empty() {
                0.0
            } else {
                sent.iter().map(|b| b.latency_ms as f64).sum::<f64>() / sent.len() as f64
            },
            records_per_sec: totals.applied as f64 / wall_secs.max(1e-9),
        };
        DeltaReport {
            data_store_id,
            batches,
            totals,
            metrics,
        }
    }

    /// The status that stopped the run, if one did.
    pub fn stopped_by(&self) -> Option<BatchStatus> {
        self.batches
            .iter()
            .map(|b| b.status)
            .find(|s| !matches!(s, BatchStatus::Applied | BatchStatus::NotSent))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(index: usize, n: usize, latency_ms: u64) -> BatchResult {
        BatchResult {
            status: BatchStatus::Applied,
            applied: n,
            latency_ms,
            ..BatchResult::not_sent(index, n, format!("c{index}"))
        }
    }

    #[test]
    fn a_status_label_is_its_serialised_name() {
        use BatchStatus::*;
        for status in [Applied, Conflict, IntegrityError, Failed, NotSent] {
            assert_eq!(serde_json::json!(status), status.as_str());
        }
    }

    #[test]
    fn totals_and_metrics_sum_the_sent_batches() {
        let mut conflict = applied(1, 10, 30);
        conflict.status = BatchStatus::Conflict;
        conflict.applied = 0;
        conflict.conflicts = vec!["r12".into()];
        let batches = vec![
            applied(0, 10, 10),
            conflict,
            BatchResult::not_sent(2, 5, "c2".into()),
        ];
        let r = DeltaReport::new("ds".into(), 25, batches, 2.0);
        assert_eq!(r.totals.records, 25);
        assert_eq!(r.totals.applied, 10);
        assert_eq!(r.totals.conflicts, vec!["r12"]);
        assert_eq!(r.metrics.success_rate, 0.5);
        assert_eq!(r.metrics.average_latency_ms, 20.0);
        assert_eq!(r.metrics.records_per_sec, 5.0);
        assert_eq!(r.stopped_by(), Some(BatchStatus::Conflict));
    }
}
