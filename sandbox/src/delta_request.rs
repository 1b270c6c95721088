//! The body of `PATCH /api/v2/dataactions/records` (seed 001) and its validation.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::error::ApiError;

/// Most records one delta request may carry (seed 001: "a maximum batch size of 1000").
pub const MAX_BATCH_RECORDS: usize = 1000;

/// Most problems spelled out in one `invalid_payload` message; the rest are counted.
const MAX_LISTED_PROBLEMS: usize = 20;

/// `updateType` on the wire: `"UPSERT"` or `"UPDATE"`, exactly (seed 001).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateType {
    /// `UPSERT`: create missing records, update existing ones.
    #[serde(rename = "UPSERT")]
    Upsert,
    /// `UPDATE`: update existing records only; missing ones are reported in `not_found`.
    #[serde(rename = "UPDATE")]
    Update,
}

impl UpdateType {
    /// The value for its wire spelling; `None` for anything else (case matters).
    pub fn parse(text: &str) -> Option<UpdateType> {
        [UpdateType::Upsert, UpdateType::Update]
            .into_iter()
            .find(|kind| kind.wire_name() == text)
    }

    /// The wire spelling: `UPSERT` or `UPDATE`.
    pub fn wire_name(self) -> &'static str {
        match self {
            UpdateType::Upsert => "UPSERT",
            UpdateType::Update => "UPDATE",
        }
    }
}

/// `conflictResolution` on the wire: `"OVERWRITE"`, `"FAIL"` or `"IGNORE"`, exactly
/// (seed 001). A conflict is a record whose given `version` differs from the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConflictResolution {
    /// `OVERWRITE`: apply a conflicting record anyway (it is still listed in `conflicts`).
    #[serde(rename = "OVERWRITE")]
    Overwrite,
    /// `FAIL`: any conflict rejects the whole batch with 409.
    #[serde(rename = "FAIL")]
    Fail,
    /// `IGNORE`: skip a conflicting record, apply the rest.
    #[serde(rename = "IGNORE")]
    Ignore,
}

impl ConflictResolution {
    /// The value for its wire spelling; `None` for anything else (case matters).
    pub fn parse(text: &str) -> Option<ConflictResolution> {
        [
            ConflictResolution::Overwrite,
            ConflictResolution::Fail,
            ConflictResolution::Ignore,
        ]
        .into_iter()
        .find(|resolution| resolution.wire_name() == text)
    }

    /// The wire spelling: `OVERWRITE`, `FAIL` or `IGNORE`.
    pub fn wire_name(self) -> &'static str {
        match self {
            ConflictResolution::Overwrite => "OVERWRITE",
            ConflictResolution::Fail => "FAIL",
            ConflictResolution::Ignore => "IGNORE",
        }
    }
}

/// One record change on the wire: `{"id": string (non-empty), "version"?: u64, "fields":
/// object}`. `version` is the one the client last saw (absent or `null`: never conflicts);
/// a `null` field value removes the field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordDelta {
    /// The record's id.
    pub id: String,
    /// The version the client expects stored; `None` skips the check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// The fields to set (`null` removes one).
    pub fields: Map<String, Value>,
}

/// A validated delta request:
/// `{"dataStoreId": string, "records": [RecordDelta], "updateType": "UPSERT"|"UPDATE",
/// "conflictResolution": "OVERWRITE"|"FAIL"|"IGNORE", "batchSize": n, "triggerVersion"?: bool}`.
/// Unknown fields (the client's per-record `checksum`, say) are ignored.
#[derive(Debug, Clone, PartialEq)]
pub struct DeltaRequest {
    /// The data store changed.
    pub data_store_id: String,
    /// The changes, applied in order (1..=1000 of them).
    pub records: Vec<RecordDelta>,
    /// `updateType`.
    pub update_type: UpdateType,
    /// `conflictResolution`.
    pub conflict_resolution: ConflictResolution,
    /// `triggerVersion` (accepted; versions are always stamped). Default false.
    pub trigger_version: bool,
}

impl DeltaRequest {
    /// Parses and validates a delta body, in this order: JSON and shape (every bad field
    /// named), then more than [`MAX_BATCH_RECORDS`] records, then no records, then
    /// `batchSize` differing from the number of records.
    ///
    /// Errors: 400 [`ApiError::InvalidPayload`] (shape, empty, `batchSize`), 400
    /// [`ApiError::BatchTooLarge`] (over 1000 records).
    pub fn parse(body: &[u8]) -> Result<DeltaRequest, ApiError> {
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::InvalidPayload(format!("body is not valid JSON: {e}")))?;
        let Value::Object(mut fields) = value else {
            return Err(ApiError::InvalidPayload(
                "body must be a JSON object".to_owned(),
            ));
        };
        let mut problems = Vec::new();
        let data_store_id = match fields.remove("dataStoreId") {
            Some(Value::String(id)) if !id.is_empty() => id,
            _ => {
                problems.push("field `dataStoreId` must be a non-empty string".to_owned());
                String::new()
            }
        };
        let records = match fields.remove("records") {
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| record(i, item, &mut problems))
                .collect(),
            _ => {
                problems.push("field `records` must be a list of records".to_owned());
                Vec::new()
            }
        };
        let update_type = fields
            .get("updateType")
            .and_then(Value::as_str)
            .and_then(UpdateType::parse);
        if update_type.is_none() {
            problems.push("field `updateType` must be \"UPSERT\" or \"UPDATE\"".to_owned());
        }
        let conflict_resolution = fields
            .get("conflictResolution")
            .and_then(Value::as_str)
            .and_then(ConflictResolution::parse);
        if conflict_resolution.is_none() {
            problems.push(
                "field `conflictResolution` must be \"OVERWRITE\", \"FAIL\" or \"IGNORE\""
                    .to_owned(),
            );
        }
        let batch_size = fields.get("batchSize").and_then(Value::as_u64);
        if batch_size.is_none() {
            problems.push("field `batchSize` must be a non-negative integer".to_owned());
        }
        let trigger_version = match fields.get("triggerVersion") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                problems.push("field `triggerVersion` must be a boolean".to_owned());
                false
            }
        };
        let (Some(update_type), Some(conflict_resolution), Some(batch_size), true) = (
            update_type,
            conflict_resolution,
            batch_size,
            problems.is_empty(),
        ) else {
            return Err(ApiError::InvalidPayload(summarise(&problems)));
        };
        if records.len() > MAX_BATCH_RECORDS {
            return Err(ApiError::BatchTooLarge {
                records: records.len(),
                limit: MAX_BATCH_RECORDS,
            });
        }
        if records.is_empty() {
            return Err(ApiError::InvalidPayload(
                "field `records` must hold at least one record".to_owned(),
            ));
        }
        if usize::try_from(batch_size).ok() != Some(records.len()) {
            return Err(ApiError::InvalidPayload(format!(
                "field `batchSize` is {batch_size} but `records` holds {} records",
                records.len()
            )));
        }
        Ok(DeltaRequest {
            data_store_id,
            records,
            update_type,
            conflict_resolution,
            trigger_version,
        })
    }
}

/// Validates `records[i]`, pushing a problem per bad field; its id and fields are moved out.
fn record(i: usize, item: Value, problems: &mut Vec<String>) -> Option<RecordDelta> {
    let Value::Object(mut item) = item else {
        problems.push(format!("field `records[{i}]` must be an object"));
        return None;
    };
    let id = match item.remove("id") {
        Some(Value::String(id)) if !id.is_empty() => Some(id),
        _ => {
            problems.push(format!(
                "field `records[{i}].id` must be a non-empty string"
            ));
            None
        }
    };
    let version = match item.get("version") {
        None | Some(Value::Null) => Some(None),
        Some(v) => match v.as_u64() {
            Some(n) => Some(Some(n)),
            None => {
                problems.push(format!(
                    "field `records[{i}].version` must be a non-negative integer"
                ));
                None
            }
        },
    };
    let fields = match item.remove("fields") {
        Some(Value::Object(fields)) => Some(fields),
        _ => {
            problems.push(format!("field `records[{i}].fields` must be an object"));
            None
        }
    };
    Some(RecordDelta {
        id: id?,
        version: version?,
        fields: fields?,
    })
}

/// Joins problems into one message, listing at most [`MAX_LISTED_PROBLEMS`].
fn summarise(problems: &[String]) -> String {
    let mut message = problems
        .iter()
        .take(MAX_LISTED_PROBLEMS)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if problems.len() > MAX_LISTED_PROBLEMS {
        message.push_str(&format!(
            "; and {} more problems",
            problems.len() - MAX_LISTED_PROBLEMS
        ));
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(records: Value, batch_size: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "dataStoreId": "ds-1",
            "records": records,
            "updateType": "UPSERT",
            "conflictResolution": "IGNORE",
            "batchSize": batch_size,
            "triggerVersion": true,
        }))
        .expect("serialisable")
    }

    fn invalid(body: &[u8]) -> String {
        match DeltaRequest::parse(body) {
            Err(ApiError::InvalidPayload(message)) => message,
            other => panic!("expected invalid_payload, got {other:?}"),
        }
    }

    #[test]
    fn the_wire_types_keep_the_seed_spellings() {
        let record = RecordDelta {
            id: "rec_a1b2c3".into(),
            version: None,
            fields: Map::new(),
        };
        assert_eq!(
            serde_json::to_value(&record).expect("serialisable"),
            json!({"id": "rec_a1b2c3", "fields": {}})
        );
        assert_eq!(json!(UpdateType::Upsert), json!("UPSERT"));
        assert_eq!(json!(ConflictResolution::Ignore), json!("IGNORE"));
        for text in ["UPSERT", "UPDATE"] {
            assert_eq!(
                UpdateType::parse(text).map(UpdateType::wire_name),
                Some(text)
            );
        }
        for text in ["OVERWRITE", "FAIL", "IGNORE"] {
            let parsed = ConflictResolution::parse(text);
            assert_eq!(parsed.map(ConflictResolution::wire_name), Some(text));
        }
        assert_eq!(UpdateType::parse("upsert"), None);
        assert_eq!(ConflictResolution::parse("Fail"), None);
    }

    #[test]
    fn a_seed_shaped_body_parses() {
        let request = DeltaRequest::parse(&body(
            json!([{"id": "rec_a1b2c3", "fields": {"status": "processed"}, "checksum": "x"},
                   {"id": "rec_d4e5f6", "version": 3, "fields": {}}]),
            json!(2),
        ))
        .expect("valid");
        assert_eq!(request.data_store_id, "ds-1");
        assert_eq!(request.update_type, UpdateType::Upsert);
        assert_eq!(request.conflict_resolution, ConflictResolution::Ignore);
        assert!(request.trigger_version);
        assert_eq!(request.records[0].version, None);
        assert_eq!(request.records[1].version, Some(3));
        assert_eq!(request.records[0].fields["status"], "processed");
    }

    #[test]
    fn every_bad_field_is_named() {
        let text = invalid(
            br#"{"records": [{"id": 5, "version": "2", "fields": []}, 3],
            "updateType": "MERGE", "conflictResolution": "fail", "batchSize": -1,
            "triggerVersion": "yes"}"#,
        );
        for field in [
            "dataStoreId",
            "records[0].id",
            "records[0].version",
            "records[0].fields",
            "records[1]",
            "updateType",
            "conflictResolution",
            "batchSize",
            "triggerVersion",
        ] {
            assert!(text.contains(&format!("`{field}`")), "{field}: {text}");
        }
        assert!(invalid(b"{not json").contains("JSON"));
        assert!(invalid(b"[]").contains("object"));
    }

    #[test]
    fn more_than_1000_records_is_batch_too_large_and_none_is_invalid() {
        let many: Vec<Value> = (0..1001)
            .map(|i| json!({"id": format!("r{i}"), "fields": {}}))
            .collect();
        assert_eq!(
            DeltaRequest::parse(&body(Value::Array(many), json!(1001))),
            Err(ApiError::BatchTooLarge {
                records: 1001,
                limit: 1000
            })
        );
        let full: Vec<Value> = (0..1000)
            .map(|i| json!({"id": format!("r{i}"), "fields": {}}))
            .collect();
        assert!(DeltaRequest::parse(&body(Value::Array(full), json!(1000))).is_ok());
        assert!(invalid(&body(json!([]), json!(0))).contains("`records`"));
    }

    #[test]
    fn batch_size_must_match_the_number_of_records() {
        let text = invalid(&body(json!([{"id": "a", "fields": {}}]), json!(2)));
        assert!(text.contains("`batchSize`"), "{text}");
    }

    #[test]
    fn long_problem_lists_are_cut_short() {
        let bad: Vec<Value> = (0..50).map(|_| json!({"fields": {}})).collect();
        let text = invalid(&body(Value::Array(bad), json!(50)));
        assert!(text.contains("and 30 more problems"), "{text}");
    }
}
