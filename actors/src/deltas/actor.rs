//! DeltaBatchActor: sends delta batches (seed 001). Each batch is one atomic
//! `PATCH …/dataactions/records` through the CXone client (429/5xx backoff) with
//! `X-Payload-Checksum` and `Idempotency-Key` (the batch checksum: a retried batch is not
//! applied twice), `If-Match: *` and the version-stamp header. The API's answer is checked
//! against our checksum (a mismatch is an integrity error). After each batch: an audit
//! record, metrics, and, when `deltas.replication_webhook_url` is set, a
//! `cxone.delta.executed` event POSTed with retries — a failed delivery is reported in the
//! batch's result, never dropped silently.

use std::time::{Duration, Instant};

use actix::prelude::*;
use serde_json::{json, Value};

use super::batch::{batch_size, prepare, PreparedBatch};
use super::report::{BatchResult, BatchStatus, DeltaReport, Replication};
use super::set::DeltaSet;
use crate::audit::{AuditActor, AuditEvent, AuditOutcome};
use crate::cxone::{api, CxoneClient, CxoneError, CxoneHandle};
use crate::definitions::webhook;
use crate::lifecycle::Lifecycle;
use crate::metrics::METRICS;
use crate::settings::DeltaSettings;

/// Sends one prepared batch.
#[derive(Message, Debug, Clone)]
#[rtype(result = "BatchResult")]
pub struct ApplyBatch {
    /// The data store.
    pub data_store_id: String,
    /// The batch.
    pub batch: PreparedBatch,
}

/// Applies a whole validated set, batch by batch, stopping at the first batch that is not
/// applied (a FAIL conflict, an integrity error, a failure).
#[derive(Message, Debug, Clone)]
#[rtype(result = "DeltaReport")]
pub struct ApplyDelta {
    /// The set.
    pub set: DeltaSet,
}

/// What a batch needs besides its payload.
#[derive(Clone)]
struct Sender {
    client: CxoneClient,
    /// For the replication webhook.
    http: awc::Client,
    settings: DeltaSettings,
    audit: Option<Addr<AuditActor>>,
}

/// The delta sender. One per process (batches of one run go in order).
pub struct DeltaBatchActor {
    sender: Sender,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl DeltaBatchActor {
    /// A delta sender calling CXone through `cxone`; build it on the thread it runs on (its
    /// HTTP clients stay there).
    pub fn new(
        cxone: CxoneHandle,
        settings: DeltaSettings,
        audit: Option<Addr<AuditActor>>,
    ) -> Self {
        DeltaBatchActor {
            sender: Sender {
                client: cxone.client(),
                http: webhook::client(),
                settings,
                audit,
            },
            lifecycle: Lifecycle::new("DeltaBatchActor"),
        }
    }

    fn sender(&self) -> Sender {
        self.sender.clone()
    }
}

impl Actor for DeltaBatchActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        self.lifecycle.started();
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        Running::Stop
    }
}

impl Supervised for DeltaBatchActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.lifecycle.restarted();
    }
}

crate::handle_stop_actor!(DeltaBatchActor);

/// Sends one batch.
impl Handler<ApplyBatch> for DeltaBatchActor {
    type Result = ResponseFuture<BatchResult>;

    fn handle(&mut self, msg: ApplyBatch, _: &mut Self::Context) -> Self::Result {
        let sender = self.sender();
        Box::pin(async move { sender.apply(&msg.data_store_id, msg.batch).await })
    }
}

/// Applies a set, batch by batch.
impl Handler<ApplyDelta> for DeltaBatchActor {
    type Result = ResponseFuture<DeltaReport>;

    fn handle(&mut self, msg: ApplyDelta, _: &mut Self::Context) -> Self::Result {
        let sender = self.sender();
        Box::pin(async move {
            let started = Instant::now();
            let set = msg.set;
            let size = batch_size(sender.settings.max_batch_size);
            let mut results = Vec::new();
            let mut stopped = false;
            for (index, chunk) in set.records.chunks(size).enumerate() {
                let batch = prepare(
                    index,
                    &set.data_store_id,
                    chunk,
                    set.update_type,
                    set.conflict_resolution,
                );
                if stopped {
                    results.push(BatchResult::not_sent(index, batch.size, batch.checksum));
                    continue;
                }
                let result = sender.apply(&set.data_store_id, batch).await;
                stopped = result.status != BatchStatus::Applied;
                results.push(result);
            }
            DeltaReport::new(
                set.data_store_id,
                set.records.len(),
                results,
                started.elapsed().as_secs_f64(),
            )
        })
    }
}

fn id_list(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

impl Sender {
    async fn apply(&self, data_store_id: &str, batch: PreparedBatch) -> BatchResult {
        let PreparedBatch {
            index,
            size,
            body,
            checksum,
        } = batch;
        let started = Instant::now();
        let answer = api::apply_delta_batch(&self.client, data_store_id, &checksum, body).await;
        let latency = started.elapsed();
        let mut result = BatchResult::not_sent(index, size, checksum);
        result.latency_ms = latency.as_millis() as u64;
        let body = match &answer {
            Ok(resp) => {
                result.status = BatchStatus::Applied;
                serde_json::from_slice(&resp.body).unwrap_or(Value::Null)
            }
            Err(CxoneError::Status { status: 409, body }) => {
                result.status = BatchStatus::Conflict;
                result.error =
                    Some("a record's version conflicts; FAIL applied nothing of the batch".into());
                serde_json::from_str(body).unwrap_or(Value::Null)
            }
            Err(e) => {
                result.status = BatchStatus::Failed;
                result.error = Some(e.to_string());
                Value::Null
            }
        };
        if result.status != BatchStatus::Failed {
            result.applied = body["applied"].as_u64().unwrap_or(0) as usize;
            result.skipped = id_list(&body, "skipped");
            result.conflicts = id_list(&body, "conflicts");
            result.not_found = id_list(&body, "not_found");
            result.versions = body["versions"].as_object().cloned().unwrap_or_default();
            let received = body["checksum"].as_str().unwrap_or_default();
            if received != result.checksum {
                result.status = BatchStatus::IntegrityError;
                result.error = Some(format!(
                    "the API acknowledged checksum {received:?}, not the payload's {}",
                    result.checksum
                ));
            }
        }
        self.record(data_store_id, &result, latency, answer.as_ref().err());
        if !self.settings.replication_webhook_url.is_empty() {
            result.replication = Some(self.replicate(data_store_id, &result).await);
        }
        result
    }

    fn record(
        &self,
        data_store_id: &str,
        r: &BatchResult,
        latency: Duration,
        error: Option<&CxoneError>,
    ) {
        let status = r.status.as_str();
        METRICS.delta_batches.with_label_values(&[status]).inc();
        METRICS
            .delta_records
            .with_label_values(&["applied"])
            .inc_by(r.applied as u64);
        METRICS
            .delta_records
            .with_label_values(&["skipped"])
            .inc_by(r.skipped.len() as u64);
        METRICS.delta_batch_seconds.observe(latency.as_secs_f64());
        let Some(audit) = &self.audit else { return };
        let mut event = AuditEvent::now(
            "DeltaBatchActor",
            "delta_batch",
            r.checksum.clone(),
            data_store_id,
        );
        event.http_status = error.map_or(Some(200), CxoneError::status);
        event.latency_ms = r.latency_ms;
        if r.status != BatchStatus::Applied {
            event.outcome = AuditOutcome::Failed;
            event.error = r.error.clone();
        }
        event.details = Some(json!({
            "data_store_id": data_store_id,
            "batch_index": r.index,
            "size": r.size,
            "checksum": r.checksum,
            "status": status,
            "applied": r.applied,
            "skipped": r.skipped.len(),
            "conflicts": r.conflicts.len(),
            "not_found": r.not_found.len(),
        }));
        audit.do_send(event);
    }

    async fn replicate(&self, data_store_id: &str, r: &BatchResult) -> Replication {
        let event = json!({
            "eventType": "cxone.delta.executed",
            "dataStoreId": data_store_id,
            "batchSize": r.size,
            "checksum": r.checksum,
            "status": r.status,
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        let posted = webhook::post(
            &self.http,
            &self.settings.replication_webhook_url,
            &event,
            self.settings.replication_attempts,
            |attempt| Duration::from_millis(100 << attempt.min(6)),
        )
        .await;
        let error = match posted.last {
            Ok(status) if status.is_success() => {
                return Replication {
                    status: "delivered",
                    attempts: posted.attempts,
                    error: None,
                }
            }
            Ok(status) => format!("HTTP {}", status.as_u16()),
            Err(e) => e,
        };
        log::warn!(
            "actor=DeltaBatchActor event=replication_failed data_store_id={data_store_id} batch={} error={error}",
            r.index,
        );
        Replication {
            status: "failed",
            attempts: posted.attempts,
            error: Some(error),
        }
    }
}
