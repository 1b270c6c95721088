//! Data stores: records kept by id with an optimistic-locking version, changed by delta
//! batches ([`deltas`](super::deltas)) and inspected or seeded through the admin API
//! `GET`/`POST /sandbox/datastores/{id}`.

use actix_web::{web, HttpResponse};
use serde_json::{json, Map, Value};

use super::body::{read_body, MAX_API_BODY_BYTES};
use super::error::ApiError;
use super::state::{DataStore, Shared, StoredRecord};

/// The admin view of a data store: `{"records": {record id: {"version", "fields"}}}`.
pub fn store_json(store: Option<&DataStore>) -> Value {
    match store {
        Some(store) => json!({ "records": store }),
        None => json!({ "records": {} }),
    }
}

/// Parses a `POST /sandbox/datastores/{id}` body:
/// `{"records": [{"id": string, "version"?: u64 (default 1), "fields"?: object (default {})}]}`.
///
/// Errors: [`ApiError::InvalidDatastore`] naming every bad field (`records[2].version`), an
/// empty or repeated id, or a body that is not a JSON object with a `records` list.
pub fn parse_replacement(body: &[u8]) -> Result<DataStore, ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::InvalidDatastore(format!("body is not valid JSON: {e}")))?;
    let Some(records) = value.get("records") else {
        return Err(ApiError::InvalidDatastore(
            "field `records` is required (a list of {\"id\", \"version\", \"fields\"})".to_owned(),
        ));
    };
    let Value::Array(records) = records else {
        return Err(ApiError::InvalidDatastore(
            "field `records` must be a list".to_owned(),
        ));
    };
    let mut store = DataStore::new();
    let mut problems = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let Value::Object(record) = record else {
            problems.push(format!("field `records[{i}]` must be an object"));
            continue;
        };
        let id = match record.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => {
                problems.push(format!(
                    "field `records[{i}].id` must be a non-empty string"
                ));
                continue;
            }
        };
        let version = match record.get("version") {
            None | Some(Value::Null) => 1,
            Some(v) => match v.as_u64() {
                Some(n) => n,
                None => {
                    problems.push(format!(
                        "field `records[{i}].version` must be a non-negative integer"
                    ));
                    continue;
                }
            },
        };
        let fields = match record.get("fields") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(fields)) => fields.clone(),
            Some(_) => {
                problems.push(format!("field `records[{i}].fields` must be an object"));
                continue;
            }
        };
        if store
            .insert(id.clone(), StoredRecord { version, fields })
            .is_some()
        {
            problems.push(format!("field `records[{i}].id` repeats the id {id:?}"));
        }
    }
    if problems.is_empty() {
        Ok(store)
    } else {
        Err(ApiError::InvalidDatastore(problems.join("; ")))
    }
}

/// `GET /sandbox/datastores/{id}`: the store's records,
/// `{"records": {record id: {"version": n, "fields": {...}}}}` (`{"records": {}}` for a
/// store never written).
pub async fn get_datastore(id: web::Path<String>, shared: web::Data<Shared>) -> HttpResponse {
    let state = shared.lock();
    HttpResponse::Ok().json(store_json(state.data_stores.get(id.as_str())))
}

/// `POST /sandbox/datastores/{id}`: replaces the store's records with the body's (see
/// [`parse_replacement`]) and answers like `GET`. An empty list empties the store.
///
/// Errors: 400 `invalid_datastore` naming each bad field (nothing is changed then); 413
/// `payload_too_large` over [`MAX_API_BODY_BYTES`].
pub async fn replace_datastore(
    id: web::Path<String>,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, MAX_API_BODY_BYTES).await?;
    let store = parse_replacement(&body)?;
    let id = id.into_inner();
    let count = store.len();
    let view = store_json(Some(&store));
    shared.lock().data_stores.insert(id.clone(), store);
    log::info!(
        "component=sandbox event=datastore_replaced data_store={id} records={count}; data store replaced"
    );
    Ok(HttpResponse::Ok().json(view))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(body: &str) -> String {
        match parse_replacement(body.as_bytes()) {
            Err(ApiError::InvalidDatastore(message)) => message,
            other => panic!("expected invalid_datastore, got {other:?}"),
        }
    }

    #[test]
    fn a_replacement_defaults_version_to_one_and_fields_to_empty() {
        let store = parse_replacement(
            br#"{"records": [{"id": "a", "version": 4, "fields": {"x": 1}}, {"id": "b"}]}"#,
        )
        .expect("valid");
        assert_eq!(store["a"].version, 4);
        assert_eq!(store["a"].fields.get("x"), Some(&json!(1)));
        assert_eq!(store["b"].version, 1);
        assert!(store["b"].fields.is_empty());
        assert_eq!(
            store_json(Some(&store)),
            json!({"records": {
                "a": {"version": 4, "fields": {"x": 1}},
                "b": {"version": 1, "fields": {}},
            }})
        );
        assert_eq!(store_json(None), json!({"records": {}}));
    }

    #[test]
    fn a_bad_replacement_names_every_bad_field() {
        let text = problems(
            r#"{"records": [{"id": ""}, {"id": "a", "version": -1}, {"id": "b", "fields": []},
                {"id": "c"}, {"id": "c"}, 7]}"#,
        );
        for field in [
            "records[0].id",
            "records[1].version",
            "records[2].fields",
            "records[4].id",
            "records[5]",
        ] {
            assert!(text.contains(&format!("`{field}`")), "{field}: {text}");
        }
        assert!(problems("{}").contains("`records`"));
        assert!(problems(r#"{"records": {}}"#).contains("`records`"));
        assert!(problems("nope").contains("JSON"));
    }
}
