//! The delta set (seed 001): `{"data_store_id", "records": [{"id", "version"?, "fields"}],
//! "conflict_resolution": "OVERWRITE"|"FAIL"|"IGNORE", "update_type"?: "UPSERT"|"UPDATE"}`
//! (`update_type` defaults to `UPSERT`). Validated before anything is sent; every problem
//! names its field, and record problems their index and id (`records[3].fields`).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::problem::FieldProblem;

/// Most problems reported for one set (the rest are counted in one last problem).
pub const MAX_PROBLEMS: usize = 100;

/// What happens to a record whose `version` differs from the stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConflictResolution {
    /// Applied regardless.
    Overwrite,
    /// The batch is refused (409) and the run stops.
    Fail,
    /// The record is skipped; the rest are applied.
    Ignore,
}

impl ConflictResolution {
    /// Parses `OVERWRITE`, `FAIL` or `IGNORE`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "OVERWRITE" => Some(Self::Overwrite),
            "FAIL" => Some(Self::Fail),
            "IGNORE" => Some(Self::Ignore),
            _ => None,
        }
    }
}

/// Whether records may be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum UpdateType {
    /// Create or update.
    #[default]
    Upsert,
    /// Update only; a missing record is reported as not found.
    Update,
}

impl UpdateType {
    /// Parses `UPSERT` or `UPDATE`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "UPSERT" => Some(Self::Upsert),
            "UPDATE" => Some(Self::Update),
            _ => None,
        }
    }
}

/// One record change. Its schema (`DeltaRecord` in the service's OpenAPI document) is the
/// wire shape [`validate_record`] reads: unknown fields are refused (`deny_unknown_fields`
/// only states so in the schema; nothing deserialises this type).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(description = "One record change; unknown fields are refused.")]
pub struct DeltaRecord {
    /// Record id, not blank, unique in the set.
    #[schema(min_length = 1, pattern = r"\S")]
    pub id: String,
    /// Expected stored version (optimistic locking); absent or null: no check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Fields to set, at least one (`null` removes one).
    #[schema(schema_with = non_empty_object)]
    pub fields: Map<String, Value>,
}

/// A validated delta set. It serialises as the delta set document it was read from, and its
/// schema (`DeltaSet` in the service's OpenAPI document) is the wire shape [`validate_set`]
/// reads: unknown fields are refused (as for [`DeltaRecord`]).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(
    description = "A delta set (seed 001): records applied to a data store in atomic \
    batches of at most 1000, in order. Validated whole before anything is sent, every problem \
    naming its field and record (`records[3].fields`); unknown fields are refused."
)]
pub struct DeltaSet {
    /// Target data store, not blank.
    #[schema(min_length = 1, pattern = r"\S")]
    pub data_store_id: String,
    /// The records, in order: at least one, ids unique.
    #[schema(min_items = 1)]
    pub records: Vec<DeltaRecord>,
    /// Conflict resolution.
    pub conflict_resolution: ConflictResolution,
    /// Update type (absent or null: `UPSERT`).
    #[schema(required = false, nullable)]
    pub update_type: UpdateType,
}

/// The schema of a JSON object with at least one member (any values).
fn non_empty_object() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Object)
        .min_properties(Some(1))
        .build()
}

/// Collects problems up to [`MAX_PROBLEMS`], counting the rest.
#[derive(Debug, Default)]
pub struct Problems {
    list: Vec<FieldProblem>,
    more: usize,
}

impl Problems {
    /// Adds a problem.
    pub fn push(&mut self, p: FieldProblem) {
        if self.list.len() < MAX_PROBLEMS {
            self.list.push(p);
        } else {
            self.more += 1;
        }
    }

    /// Whether none was found.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The problems, with a last one counting those left out.
    pub fn into_vec(mut self) -> Vec<FieldProblem> {
        if self.more > 0 {
            self.list.push(FieldProblem::new(
                "records",
                format!("{} more problems not listed", self.more),
            ));
        }
        self.list
    }
}

/// Validates one record at `index`; problems go to `problems`.
pub fn validate_record(
    value: &Value,
    index: usize,
    problems: &mut Problems,
) -> Option<DeltaRecord> {
    let at = |field: &str| format!("records[{index}]{field}");
    let Some(obj) = value.as_object() else {
        problems.push(FieldProblem::new(at(""), "must be an object"));
        return None;
    };
    let id = match obj.get("id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            problems.push(FieldProblem::new(at(".id"), "must not be empty"));
            None
        }
        Some(_) => {
            problems.push(FieldProblem::new(at(".id"), "must be a string"));
            None
        }
        None => {
            problems.push(FieldProblem::new(at(".id"), "is missing"));
            None
        }
    };
    let named = |msg: &str| match &id {
        Some(id) => format!("record {id:?}: {msg}"),
        None => msg.to_string(),
    };
    for key in obj
        .keys()
        .filter(|k| !["id", "version", "fields"].contains(&k.as_str()))
    {
        problems.push(FieldProblem::new(
            at(&format!(".{key}")),
            named("is not a known field"),
        ));
    }
    let version = match obj.get("version") {
        None | Some(Value::Null) => Some(None),
        Some(v) => match v.as_u64() {
            Some(n) => Some(Some(n)),
            None => {
                problems.push(FieldProblem::new(
                    at(".version"),
                    named("must be a whole number ≥ 0"),
                ));
                None
            }
        },
    };
    let fields = match obj.get("fields") {
        Some(Value::Object(f)) if !f.is_empty() => Some(f.clone()),
        Some(Value::Object(_)) => {
            problems.push(FieldProblem::new(at(".fields"), named("must not be empty")));
            None
        }
        Some(_) => {
            problems.push(FieldProblem::new(at(".fields"), named("must be an object")));
            None
        }
        None => {
            problems.push(FieldProblem::new(at(".fields"), named("is missing")));
            None
        }
    };
    Some(DeltaRecord {
        id: id?,
        version: version?,
        fields: fields?,
    })
}

/// Validates a whole set.
///
/// Errors: every problem (at most [`MAX_PROBLEMS`] listed).
pub fn validate_set(value: &Value) -> Result<DeltaSet, Vec<FieldProblem>> {
    let Some(obj) = value.as_object() else {
        return Err(vec![FieldProblem::new(
            "",
            "the delta set must be a JSON object",
        )]);
    };
    let mut p = Problems::default();
    for key in obj.keys().filter(|k| {
        ![
            "data_store_id",
            "records",
            "conflict_resolution",
            "update_type",
        ]
        .contains(&k.as_str())
    }) {
        p.push(FieldProblem::new(key.clone(), "is not a known field"));
    }
    let data_store_id = match obj.get("data_store_id") {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => {
            p.push(FieldProblem::new("data_store_id", "must not be empty"));
            None
        }
        Some(_) => {
            p.push(FieldProblem::new("data_store_id", "must be a string"));
            None
        }
        None => {
            p.push(FieldProblem::new("data_store_id", "is missing"));
            None
        }
    };
    let conflict_resolution = match obj.get("conflict_resolution") {
        Some(Value::String(s)) => ConflictResolution::parse(s).or_else(|| {
            p.push(FieldProblem::new(
                "conflict_resolution",
                format!("{s:?} is not one of OVERWRITE, FAIL, IGNORE"),
            ));
            None
        }),
        Some(_) => {
            p.push(FieldProblem::new(
                "conflict_resolution",
                "must be OVERWRITE, FAIL or IGNORE",
            ));
            None
        }
        None => {
            p.push(FieldProblem::new("conflict_resolution", "is missing"));
            None
        }
    };
    let update_type = match obj.get("update_type") {
        None | Some(Value::Null) => Some(UpdateType::Upsert),
        Some(Value::String(s)) => UpdateType::parse(s).or_else(|| {
            p.push(FieldProblem::new(
                "update_type",
                format!("{s:?} is not one of UPSERT, UPDATE"),
            ));
            None
        }),
        Some(_) => {
            p.push(FieldProblem::new("update_type", "must be UPSERT or UPDATE"));
            None
        }
    };
    let mut records = Vec::new();
    match obj.get("records") {
        Some(Value::Array(list)) if list.is_empty() => {
            p.push(FieldProblem::new("records", "the delta set is empty"))
        }
        Some(Value::Array(list)) => {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for (i, value) in list.iter().enumerate() {
                if let Some(id) = value.get("id").and_then(Value::as_str) {
                    if let Some(first) = seen.insert(id, i) {
                        p.push(FieldProblem::new(
                            format!("records[{i}].id"),
                            format!("record {id:?} is a duplicate of records[{first}]"),
                        ));
                    }
                }
                if let Some(r) = validate_record(value, i, &mut p) {
                    records.push(r);
                }
            }
        }
        Some(_) => p.push(FieldProblem::new("records", "must be a list")),
        None => p.push(FieldProblem::new("records", "is missing")),
    }
    match (data_store_id, conflict_resolution, update_type) {
        (Some(data_store_id), Some(conflict_resolution), Some(update_type)) if p.is_empty() => {
            Ok(DeltaSet {
                data_store_id,
                records,
                conflict_resolution,
                update_type,
            })
        }
        _ => Err(p.into_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(v: Value) -> Vec<String> {
        validate_set(&v)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.field)
            .collect()
    }

    #[test]
    fn a_valid_set_parses_with_upsert_by_default() {
        let s = validate_set(&json!({
            "data_store_id": "ds", "conflict_resolution": "IGNORE",
            "records": [{"id": "a", "version": 2, "fields": {"x": 1}}, {"id": "b", "fields": {"y": null}}]
        }))
        .expect("valid");
        assert_eq!(s.update_type, UpdateType::Upsert);
        assert_eq!(s.conflict_resolution, ConflictResolution::Ignore);
        assert_eq!(s.records[0].version, Some(2));
        assert_eq!(s.records[1].version, None);
    }

    #[test]
    fn every_problem_names_the_record_index_and_id() {
        let err = validate_set(&json!({
            "data_store_id": "",
            "conflict_resolution": "MERGE",
            "update_type": "REPLACE",
            "records": [
                {"id": "a", "fields": {}},
                {"id": "", "fields": {"x": 1}},
                {"id": "a", "fields": 3},
                {"fields": {"x": 1}, "version": -1}
            ]
        }))
        .expect_err("invalid");
        let got: Vec<(&str, &str)> = err
            .iter()
            .map(|p| (p.field.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(got[0].0, "data_store_id");
        assert_eq!(got[1].0, "conflict_resolution");
        assert_eq!(got[2].0, "update_type");
        assert_eq!(
            got[3],
            ("records[0].fields", "record \"a\": must not be empty")
        );
        assert_eq!(got[4].0, "records[1].id");
        assert_eq!(
            got[5],
            ("records[2].id", "record \"a\" is a duplicate of records[0]")
        );
        assert_eq!(
            got[6],
            ("records[2].fields", "record \"a\": must be an object")
        );
        assert_eq!(got[7].0, "records[3].id");
        assert_eq!(got[8].0, "records[3].version");
        assert_eq!(err.len(), 9);
    }

    #[test]
    fn an_empty_set_and_missing_fields_are_refused() {
        assert_eq!(
            fields(json!({"data_store_id": "d", "conflict_resolution": "FAIL", "records": []})),
            vec!["records"]
        );
        assert_eq!(
            fields(json!({})),
            vec!["data_store_id", "conflict_resolution", "records"]
        );
    }

    #[test]
    fn problems_beyond_the_cap_are_counted_not_listed() {
        let records: Vec<Value> = (0..500)
            .map(|i| json!({"id": format!("r{i}"), "fields": {}}))
            .collect();
        let err = validate_set(
            &json!({"data_store_id": "d", "conflict_resolution": "FAIL", "records": records}),
        )
        .expect_err("invalid");
        assert_eq!(err.len(), MAX_PROBLEMS + 1);
        assert_eq!(err[MAX_PROBLEMS].message, "400 more problems not listed");
    }
}
