//! The sandbox's in-memory state, shared by all handlers behind one mutex.
//!
//! [`Records`] is what `GET /sandbox/state` shows and `POST /sandbox/reset` clears; adding a
//! resource in a later part is one more field there (with `Default` + `Serialize`). The types
//! kept here live in submodules, apart from the handlers that change them, so this module
//! imports no handler.

pub mod data_stores;
pub mod definition_record;
pub mod report_spec;
pub mod token_bucket;
pub mod webhook_registry;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;

use crate::execution_log::ExecutionLog;
use crate::faults::Faults;
use crate::idempotency::IdempotencyCache;
use crate::options::SandboxOptions;

pub use data_stores::{DataStore, DataStores, StoredRecord};
pub use definition_record::DefinitionRecord;
pub use report_spec::ReportSpec;
pub use token_bucket::TokenBucket;
pub use webhook_registry::{WebhookRegistration, Webhooks, MAX_WEBHOOKS};

/// An access token the sandbox issued.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The tenant the token belongs to: the client id it was issued to.
    pub tenant: String,
    /// When the token stops being accepted (issue time + the TTL then in force).
    pub expires_at: Instant,
}

/// Everything `GET /sandbox/state` returns, in this JSON shape:
/// `{"tokens_issued": n, "requests": {"METHOD path-template status": n},
/// "acknowledgements": {dataActionId: n}, "executions": [{"execution_id", "data_action_id",
/// "started_at_ms", "completed_at_ms", "status"}],
/// "definitions": [{"id", "correlation_id", "definition"}], "exports": {job id: n},
/// "delta_batches": n}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Records {
    /// Access tokens issued since start or the last reset.
    pub tokens_issued: u64,
    /// Token-endpoint and API requests, keyed `"METHOD path-template status"`
    /// (e.g. `"POST /api/v2/data/actions/{id}/acknowledge 409"`); admin calls are not counted.
    pub requests: BTreeMap<String, u64>,
    /// Acknowledge calls answered 200, per `dataActionId` (a 409 is not counted).
    pub acknowledgements: BTreeMap<String, u64>,
    /// Sub-flow executions in start order, the most recent 100 000.
    pub executions: ExecutionLog,
    /// Definitions created (answered 201), in creation order.
    pub definitions: Vec<DefinitionRecord>,
    /// Export job id → records served so far (0 when started).
    pub exports: BTreeMap<String, u64>,
    /// Delta batches answered 200 (not 409s, not idempotent replays).
    pub delta_batches: u64,
}

/// The mutable state of a running sandbox.
#[derive(Debug)]
pub struct SandboxState {
    /// Current settings (options overridden by `POST /sandbox/faults`).
    pub faults: Faults,
    /// Issued tokens by their opaque value. Kept across a reset, so a running service's
    /// token stays valid; expired ones are pruned whenever a token is issued.
    pub tokens: HashMap<String, IssuedToken>,
    /// One rate-limit bucket per tenant, created full on the tenant's first call.
    pub buckets: HashMap<String, TokenBucket>,
    /// What the admin API shows and a reset clears.
    pub records: Records,
    /// Data stores changed by delta batches; cleared by a reset.
    pub data_stores: DataStores,
    /// Answers remembered per `Idempotency-Key` of delta requests; cleared by a reset.
    pub idempotency: IdempotencyCache,
    /// Registered completion-webhook URLs; cleared by a reset.
    pub webhooks: Webhooks,
    /// Export reports by report id (`POST /sandbox/reports`); cleared by a reset.
    pub reports: HashMap<String, ReportSpec>,
    /// Export jobs by job id, each with the report as it was when the job started; cleared
    /// by a reset.
    pub export_jobs: HashMap<String, ReportSpec>,
}

impl SandboxState {
    /// A fresh state: settings from the options, nothing recorded.
    pub fn new(options: &SandboxOptions) -> SandboxState {
        SandboxState {
            faults: Faults::from_options(options),
            tokens: HashMap::new(),
            buckets: HashMap::new(),
            records: Records::default(),
            data_stores: DataStores::new(),
            idempotency: IdempotencyCache::default(),
            webhooks: Webhooks::default(),
            reports: HashMap::new(),
            export_jobs: HashMap::new(),
        }
    }

    /// Clears every record (executions included), data store, idempotency key, webhook
    /// registration, export report and export job, restores the options' settings and
    /// refills every bucket: the state of [`SandboxState::new`], except that issued tokens
    /// are kept and stay valid until they expire.
    pub fn reset(&mut self, options: &SandboxOptions) {
        let tokens = std::mem::take(&mut self.tokens);
        *self = SandboxState {
            tokens,
            ..SandboxState::new(options)
        };
    }

    /// Counts one answered request under `"METHOD path-template status"`.
    pub fn record_request(&mut self, method: &str, template: &str, status: u16) {
        *self
            .records
            .requests
            .entry(format!("{method} {template} {status}"))
            .or_insert(0) += 1;
    }
}

/// The state shared by the server's handlers: the start-up options and the mutable state.
#[derive(Debug)]
pub struct Shared {
    /// The options the sandbox was started with (what a reset restores).
    pub options: SandboxOptions,
    state: Mutex<SandboxState>,
}

impl Shared {
    /// Shared state for a sandbox started with these options.
    pub fn new(options: SandboxOptions) -> Shared {
        let state = Mutex::new(SandboxState::new(&options));
        Shared { options, state }
    }

    /// Locks the state. A mutex poisoned by a panicking handler is recovered: every update
    /// leaves the state consistent, so the data is still usable.
    pub fn lock(&self) -> MutexGuard<'_, SandboxState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution_log::{ExecutionRecord, ExecutionStatus};

    #[test]
    fn records_serialise_to_the_documented_state_shape() {
        let shared = Shared::new(SandboxOptions::default());
        shared.lock().record_request("POST", "/oauth/token", 200);
        shared.lock().record_request("POST", "/oauth/token", 200);
        let value = serde_json::to_value(&shared.lock().records).expect("serialisable");
        assert_eq!(
            value,
            serde_json::json!({
                "tokens_issued": 0,
                "requests": {"POST /oauth/token 200": 2},
                "acknowledgements": {},
                "executions": [],
                "definitions": [],
                "exports": {},
                "delta_batches": 0,
            })
        );
    }

    #[test]
    fn reset_clears_records_and_faults_but_keeps_tokens() {
        let shared = Shared::new(SandboxOptions::default());
        {
            let mut state = shared.lock();
            state.records.tokens_issued = 3;
            state.records.acknowledgements.insert("a".into(), 1);
            state.faults.error_rate = 0.5;
            state.faults.throttle_rate = 0.5;
            state.records.delta_batches = 2;
            state.records.executions.push(ExecutionRecord {
                execution_id: "e".into(),
                data_action_id: "d".into(),
                started_at_ms: 1,
                completed_at_ms: None,
                status: ExecutionStatus::Running,
            });
            state
                .webhooks
                .register(WebhookRegistration {
                    id: "w".into(),
                    url: "http://h/".into(),
                    events: Vec::new(),
                })
                .expect("registered");
            state.data_stores.insert("ds".into(), Default::default());
            let report = ReportSpec {
                id: "r".into(),
                records: 5,
                drift_at: None,
                seed: 1,
            };
            state.reports.insert("r".into(), report.clone());
            state.export_jobs.insert("j".into(), report);
            state.records.exports.insert("j".into(), 5);
            state.idempotency.insert(
                "key",
                crate::idempotency::StoredAnswer {
                    status: 200,
                    body: actix_web::web::Bytes::from_static(b"{}"),
                },
            );
            state.tokens.insert(
                "t".into(),
                IssuedToken {
                    tenant: "switchboard".into(),
                    expires_at: Instant::now(),
                },
            );
        }
        let options = shared.options.clone();
        shared.lock().reset(&options);
        let state = shared.lock();
        assert_eq!(state.records.tokens_issued, 0);
        assert!(state.records.acknowledgements.is_empty());
        assert_eq!(state.records.delta_batches, 0);
        assert!(state.records.executions.is_empty());
        assert!(state.webhooks.list().is_empty());
        assert!(state.reports.is_empty() && state.export_jobs.is_empty());
        assert!(state.records.exports.is_empty());
        assert!(state.data_stores.is_empty());
        assert!(state.idempotency.is_empty());
        assert_eq!(state.faults.error_rate, 0.0);
        assert_eq!(state.faults.throttle_rate, 0.0);
        assert!(state.tokens.contains_key("t"));
    }
}
