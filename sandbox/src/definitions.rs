//! `POST /api/v2/data-actions`: creation of Data Action definitions (seed 002), and the
//! `redirect_loop` fault that answers it with an endless chain of `302 Found`.

use actix_web::http::{header, Method};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Value};

use super::body::{read_body, MAX_API_BODY_BYTES};
use super::definition_rules::validate_definition;
use super::error::ApiError;
use super::limits::admit;
use super::state::{DefinitionRecord, Shared};

/// Path of the definition endpoint (as counted in `requests`, `?hop=` redirects included).
pub const DEFINITIONS_PATH: &str = "/api/v2/data-actions";

/// Header whose value is recorded with each created definition.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The 201 body for a valid definition `body`: `{"id", "name", "description" (null when
/// left out), "type", "configuration", "enabled" (default true), "tags" (default []),
/// "createdAt": RFC 3339 UTC}`.
pub fn created_definition(id: &str, body: &Value, created_at: &str) -> Value {
    let or = |key: &str, default: Value| match body.get(key) {
        None | Some(Value::Null) => default,
        Some(value) => value.clone(),
    };
    json!({
        "id": id,
        "name": or("name", Value::Null),
        "description": or("description", Value::Null),
        "type": or("type", Value::Null),
        "configuration": or("configuration", json!({})),
        "enabled": or("enabled", Value::Bool(true)),
        "tags": or("tags", json!([])),
        "createdAt": created_at,
    })
}

/// The `Location` of the next hop of the redirect loop: this path with `hop` one more than
/// the request's (a missing or unreadable `hop` counts as 0), as a relative URL.
pub fn next_hop_location(query: &str) -> String {
    let hop = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("hop="))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    format!("{DEFINITIONS_PATH}?hop={}", hop.saturating_add(1))
}

/// `302 Found` to the next hop, with body `{"location": url}`.
fn redirect(req: &HttpRequest) -> HttpResponse {
    let location = next_hop_location(req.query_string());
    HttpResponse::Found()
        .insert_header((header::LOCATION, location.clone()))
        .json(json!({ "location": location }))
}

/// `POST /api/v2/data-actions` (bearer auth), with `X-Correlation-ID` optional.
///
/// After [`admit`] (401, 429, 503): with the `redirect_loop` fault on, `302 Found` to
/// `/api/v2/data-actions?hop=N+1` (relative `Location`), for ever; otherwise 400
/// `malformed_json` for a body that is not JSON, 400 `invalid_definition` with `details`
/// listing every problem (see [`validate_definition`]), or 201 with
/// [`created_definition`], recorded in the state's `definitions`. 413
/// `payload_too_large` over [`MAX_API_BODY_BYTES`].
pub async fn create_definition(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &shared).await?;
    if shared.lock().faults.redirect_loop {
        return Ok(redirect(&req));
    }
    let body = read_body(payload, MAX_API_BODY_BYTES).await?;
    let definition: Value =
        serde_json::from_slice(&body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let problems = validate_definition(&definition);
    if !problems.is_empty() {
        return Err(ApiError::InvalidDefinition(problems));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let created_at = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    let created = created_definition(&id, &definition, &created_at);
    let correlation_id = req
        .headers()
        .get(CORRELATION_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    log::debug!(
        "component=sandbox event=definition_created id={id} correlation_id={}; definition created",
        correlation_id.as_deref().unwrap_or("-")
    );
    shared.lock().records.definitions.push(DefinitionRecord {
        id,
        correlation_id,
        definition,
    });
    Ok(HttpResponse::Created().json(created))
}

/// Any other method on the definition path: with the `redirect_loop` fault on, the same
/// redirect after [`admit`] (a client following a 302 may switch to `GET`); otherwise 405
/// `method_not_allowed`.
pub async fn other_method(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let looping = shared.lock().faults.redirect_loop;
    if !looping || req.method() == Method::POST {
        return Err(ApiError::MethodNotAllowed(format!(
            "{} {}",
            req.method(),
            req.path()
        )));
    }
    admit(&req, &shared).await?;
    Ok(redirect(&req))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_hop_points_to_the_next_one() {
        assert_eq!(next_hop_location(""), "/api/v2/data-actions?hop=1");
        assert_eq!(next_hop_location("hop=1"), "/api/v2/data-actions?hop=2");
        assert_eq!(
            next_hop_location("x=y&hop=41"),
            "/api/v2/data-actions?hop=42"
        );
        assert_eq!(next_hop_location("hop=oops"), "/api/v2/data-actions?hop=1");
        assert_eq!(
            next_hop_location(&format!("hop={}", u64::MAX)),
            format!("/api/v2/data-actions?hop={}", u64::MAX)
        );
    }

    #[test]
    fn the_created_definition_fills_defaults_for_left_out_fields() {
        let body = json!({"name": "n", "type": "SCRIPT", "configuration": {"code": "x"}});
        assert_eq!(
            created_definition("id-1", &body, "2024-01-01T00:00:00.000Z"),
            json!({
                "id": "id-1",
                "name": "n",
                "description": null,
                "type": "SCRIPT",
                "configuration": {"code": "x"},
                "enabled": true,
                "tags": [],
                "createdAt": "2024-01-01T00:00:00.000Z",
            })
        );
        let body = json!({"name": "n", "type": "SOAP", "configuration": {},
                          "enabled": false, "tags": ["t"], "description": "d"});
        let created = created_definition("id-2", &body, "now");
        assert_eq!(created["enabled"], false);
        assert_eq!(created["tags"], json!(["t"]));
        assert_eq!(created["description"], "d");
    }
}
