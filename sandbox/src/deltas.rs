//! `PATCH /api/v2/dataactions/records`: atomic delta batches on a data store, with payload
//! checksum, optimistic locking (record versions), conflict resolution and idempotency keys
//! (seed 001).

use actix_web::http::header;
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::body::{read_body, MAX_API_BODY_BYTES};
use super::checksum::verify_checksum;
use super::delta_request::{ConflictResolution, DeltaRequest, UpdateType};
use super::error::ApiError;
use super::idempotency::StoredAnswer;
use super::limits::admit;
use super::state::{DataStore, DataStores, Shared, StoredRecord};

/// Path of the delta endpoint (as counted in `requests`).
pub const DELTA_PATH: &str = "/api/v2/dataactions/records";

/// Header naming a request whose answer is remembered and replayed (optional).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Header set to `true` on a replayed answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// What a delta batch did. JSON (see [`DeltaOutcome::to_json`]):
/// `{"dataStoreId", "applied": n, "skipped": [ids], "conflicts": [ids], "not_found": [ids],
/// "versions": {id: new version}, "checksum"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaOutcome {
    /// The data store changed.
    pub data_store_id: String,
    /// Record changes applied (0 when a `FAIL` batch was rejected).
    pub applied: usize,
    /// Records not applied: ignored conflicts and `not_found` ids; every record of a
    /// rejected `FAIL` batch.
    pub skipped: Vec<String>,
    /// Records whose given `version` differed from the stored one.
    pub conflicts: Vec<String>,
    /// `UPDATE` records that do not exist (not created).
    pub not_found: Vec<String>,
    /// New version of each applied record, in request order.
    pub versions: Map<String, Value>,
    /// The `X-Payload-Checksum` received.
    pub checksum: String,
}

impl DeltaOutcome {
    /// The answer body, keys in the documented order.
    pub fn to_json(&self) -> Value {
        json!({
            "dataStoreId": self.data_store_id,
            "applied": self.applied,
            "skipped": self.skipped,
            "conflicts": self.conflicts,
            "not_found": self.not_found,
            "versions": self.versions,
            "checksum": self.checksum,
        })
    }
}

/// Applies `request` to `stores` atomically and returns the answer's status (200, or 409 for
/// a `FAIL` batch with a conflict, which changes nothing) and outcome.
///
/// Records are taken in order, each seeing the earlier ones' changes (a repeated id may thus
/// conflict with itself). A record conflicts when it exists and the request gives a
/// `version` other than the stored one. Applying creates a record at version 1 or bumps an
/// existing one's version by 1, merging fields: given keys overwrite, `null` removes the key
/// (and is not stored on a new record).
pub fn apply_delta(
    stores: &mut DataStores,
    request: &DeltaRequest,
    checksum: &str,
) -> (StatusCode, DeltaOutcome) {
    let empty = DataStore::new();
    let stored = stores.get(&request.data_store_id).unwrap_or(&empty);
    let mut staged = DataStore::new();
    let mut outcome = DeltaOutcome {
        data_store_id: request.data_store_id.clone(),
        applied: 0,
        skipped: Vec::new(),
        conflicts: Vec::new(),
        not_found: Vec::new(),
        versions: Map::new(),
        checksum: checksum.to_owned(),
    };
    for delta in &request.records {
        let current = staged.get(&delta.id).or_else(|| stored.get(&delta.id));
        let next = match current {
            None if request.update_type == UpdateType::Update => {
                outcome.not_found.push(delta.id.clone());
                outcome.skipped.push(delta.id.clone());
                continue;
            }
            None => StoredRecord {
                version: 1,
                fields: merge(Map::new(), &delta.fields),
            },
            Some(current) => {
                if delta.version.is_some_and(|v| v != current.version) {
                    outcome.conflicts.push(delta.id.clone());
                    match request.conflict_resolution {
                        ConflictResolution::Ignore | ConflictResolution::Fail => {
                            outcome.skipped.push(delta.id.clone());
                            continue;
                        }
                        ConflictResolution::Overwrite => {}
                    }
                }
                StoredRecord {
                    version: current.version.saturating_add(1),
                    fields: merge(current.fields.clone(), &delta.fields),
                }
            }
        };
        outcome.applied += 1;
        outcome
            .versions
            .insert(delta.id.clone(), Value::from(next.version));
        staged.insert(delta.id.clone(), next);
    }
    if request.conflict_resolution == ConflictResolution::Fail && !outcome.conflicts.is_empty() {
        outcome.applied = 0;
        outcome.versions.clear();
        outcome.skipped = request.records.iter().map(|r| r.id.clone()).collect();
        return (StatusCode::CONFLICT, outcome);
    }
    if !staged.is_empty() {
        stores
            .entry(request.data_store_id.clone())
            .or_default()
            .extend(staged);
    }
    (StatusCode::OK, outcome)
}

/// `fields` merged with `changes`: each key overwritten, or removed when its value is `null`.
fn merge(mut fields: Map<String, Value>, changes: &Map<String, Value>) -> Map<String, Value> {
    for (key, value) in changes {
        if value.is_null() {
            fields.shift_remove(key);
        } else {
            fields.insert(key.clone(), value.clone());
        }
    }
    fields
}

/// `PATCH /api/v2/dataactions/records` (bearer auth). Headers: `X-Payload-Checksum`
/// (required), `Idempotency-Key` (optional; an empty one is ignored), `If-Match` and
/// `X-CXone-Version-Stamp` (accepted, any value).
///
/// After [`admit`] (401, 429, 503): 400 `checksum_missing` / `checksum_mismatch`; then a
/// known `Idempotency-Key` replays its stored status and body with `Idempotent-Replayed:
/// true`, applying nothing; then 400 `invalid_payload` / `batch_too_large` (see
/// [`DeltaRequest::parse`]); then [`apply_delta`]: 200, or 409 for a `FAIL` batch with
/// conflicts, both with the [`DeltaOutcome`] body, remembered under the idempotency key.
/// 413 `payload_too_large` over [`MAX_API_BODY_BYTES`].
pub async fn apply_records(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &shared).await?;
    let body = read_body(payload, MAX_API_BODY_BYTES).await?;
    let checksum = verify_checksum(req.headers(), &body)?;
    let key = req
        .headers()
        .get(IDEMPOTENCY_KEY_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .filter(|k| !k.is_empty());
    let parsed = DeltaRequest::parse(&body);
    let mut state = shared.lock();
    if let Some(answer) = key.as_deref().and_then(|k| state.idempotency.get(k)) {
        let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
        return Ok(HttpResponse::build(status)
            .insert_header((REPLAYED_HEADER, "true"))
            .content_type(header::ContentType::json())
            .body(answer.body.clone()));
    }
    let request = parsed?;
    let (status, outcome) = apply_delta(&mut state.data_stores, &request, &checksum);
    let answer = Bytes::from(outcome.to_json().to_string());
    if status == StatusCode::OK {
        state.records.delta_batches += 1;
    }
    if let Some(key) = &key {
        let stored = StoredAnswer {
            status: status.as_u16(),
            body: answer.clone(),
        };
        state.idempotency.insert(key, stored);
    }
    drop(state);
    log::debug!(
        "component=sandbox event=delta_answered data_store={} status={} applied={} conflicts={} not_found={}; delta batch answered",
        outcome.data_store_id,
        status.as_u16(),
        outcome.applied,
        outcome.conflicts.len(),
        outcome.not_found.len()
    );
    Ok(HttpResponse::build(status)
        .content_type(header::ContentType::json())
        .body(answer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delta_request::RecordDelta;

    fn fields(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    fn delta(id: &str, version: Option<u64>, changes: Value) -> RecordDelta {
        RecordDelta {
            id: id.to_owned(),
            version,
            fields: fields(changes),
        }
    }

    fn request(
        update_type: UpdateType,
        conflict_resolution: ConflictResolution,
        records: Vec<RecordDelta>,
    ) -> DeltaRequest {
        DeltaRequest {
            data_store_id: "ds".to_owned(),
            records,
            update_type,
            conflict_resolution,
            trigger_version: true,
        }
    }

    /// A store holding `a` at version 2 with `{"x": 1, "y": 2}`.
    fn seeded() -> DataStores {
        let mut store = DataStore::new();
        store.insert(
            "a".to_owned(),
            StoredRecord {
                version: 2,
                fields: fields(json!({"x": 1, "y": 2})),
            },
        );
        DataStores::from([("ds".to_owned(), store)])
    }

    #[test]
    fn upsert_creates_at_version_one_and_merges_existing_records() {
        let mut stores = seeded();
        let records = vec![
            delta("a", None, json!({"x": 10, "y": null, "z": 3})),
            delta("b", Some(7), json!({"k": "v", "gone": null})),
        ];
        let (status, outcome) = apply_delta(
            &mut stores,
            &request(UpdateType::Upsert, ConflictResolution::Fail, records),
            "sum",
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            outcome.to_json(),
            json!({"dataStoreId": "ds", "applied": 2, "skipped": [], "conflicts": [],
                   "not_found": [], "versions": {"a": 3, "b": 1}, "checksum": "sum"})
        );
        assert_eq!(stores["ds"]["a"].fields, fields(json!({"x": 10, "z": 3})));
        assert_eq!(stores["ds"]["b"].version, 1);
        assert_eq!(stores["ds"]["b"].fields, fields(json!({"k": "v"})));
    }

    #[test]
    fn update_lists_missing_records_as_not_found_and_does_not_create_them() {
        let mut stores = seeded();
        let records = vec![
            delta("missing", None, json!({"x": 1})),
            delta("a", None, json!({})),
        ];
        let (status, outcome) = apply_delta(
            &mut stores,
            &request(UpdateType::Update, ConflictResolution::Ignore, records),
            "sum",
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(outcome.not_found, ["missing"]);
        assert_eq!(outcome.skipped, ["missing"]);
        assert_eq!(outcome.applied, 1);
        assert!(!stores["ds"].contains_key("missing"));
        assert_eq!(stores["ds"]["a"].version, 3);
    }

    #[test]
    fn fail_rejects_the_whole_batch_on_one_conflict() {
        let mut stores = seeded();
        let before = stores.clone();
        let records = vec![
            delta("new", None, json!({"x": 1})),
            delta("a", Some(1), json!({"x": 5})),
        ];
        let (status, outcome) = apply_delta(
            &mut stores,
            &request(UpdateType::Upsert, ConflictResolution::Fail, records),
            "sum",
        );
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(outcome.applied, 0);
        assert_eq!(outcome.conflicts, ["a"]);
        assert_eq!(outcome.skipped, ["new", "a"]);
        assert!(outcome.versions.is_empty());
        assert_eq!(stores, before);
    }

    #[test]
    fn ignore_skips_conflicts_and_applies_the_rest() {
        let mut stores = seeded();
        let records = vec![
            delta("a", Some(9), json!({"x": 5})),
            delta("b", None, json!({})),
        ];
        let (status, outcome) = apply_delta(
            &mut stores,
            &request(UpdateType::Upsert, ConflictResolution::Ignore, records),
            "sum",
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            (outcome.conflicts.clone(), outcome.skipped.clone()),
            (vec!["a".to_owned()], vec!["a".to_owned()])
        );
        assert_eq!(outcome.applied, 1);
        assert_eq!(stores["ds"]["a"].version, 2);
        assert_eq!(stores["ds"]["a"].fields["x"], 1);
    }

    #[test]
    fn overwrite_applies_conflicts_but_still_lists_them() {
        let mut stores = seeded();
        let records = vec![
            delta("a", Some(9), json!({"x": 5})),
            delta("a", Some(3), json!({"y": 0})),
        ];
        let (status, outcome) = apply_delta(
            &mut stores,
            &request(UpdateType::Upsert, ConflictResolution::Overwrite, records),
            "sum",
        );
        assert_eq!(status, StatusCode::OK);
        // The second change saw the first one's version 3: no conflict.
        assert_eq!(outcome.conflicts, ["a"]);
        assert!(outcome.skipped.is_empty());
        assert_eq!(outcome.applied, 2);
        assert_eq!(outcome.versions, fields(json!({"a": 4})));
        assert_eq!(stores["ds"]["a"].fields, fields(json!({"x": 5, "y": 0})));
    }

    #[test]
    fn a_matching_version_or_none_never_conflicts() {
        let mut stores = seeded();
        let records = vec![delta("a", Some(2), json!({})), delta("a", None, json!({}))];
        let (_, outcome) = apply_delta(
            &mut stores,
            &request(UpdateType::Upsert, ConflictResolution::Fail, records),
            "sum",
        );
        assert!(outcome.conflicts.is_empty());
        assert_eq!(stores["ds"]["a"].version, 4);
    }
}
