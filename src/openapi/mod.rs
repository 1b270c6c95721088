//! The OpenAPI 3.1 document of the HTTP API, generated from the code with `utoipa`: the
//! operations from the `#[utoipa::path]` attributes on the route handlers (and, for the
//! health routes and this document's own route, on the functions of `operations.rs`), the
//! request and answer schemas from the types the handlers read and answer (`ToSchema` on them,
//! here and in `switchboard-actors`; [`schemas`] for the bodies the routes validate or build
//! by hand).
//! Served at `GET /openapi.json` and printed by `switchboard openapi`.
//!
//! Conventions the document states once rather than per operation, applied by [`document`]:
//! every 503 and 429 answer carries `Retry-After` (seconds; [`crate::error::ApiError`] sets it
//! on each), every response header the document names is always sent (so it is `required`,
//! which `utoipa`'s header object cannot say), a request header is never null (an optional
//! one is absent), every path answers the methods it does not serve with 405 and `Allow`
//! (said in each path's description), and every error body is the shared `Error` schema.

mod operations;
pub mod schemas;

use std::sync::LazyLock;

use serde_json::{json, Value};
use utoipa::OpenApi;

/// The document's top-level description: what holds for every operation.
const DESCRIPTION: &str = "\
switchboard: NICE CXone Data Actions — webhooks routed to Kafka, orchestration of sub-flow \
DAGs, delta batches, Data Action definitions and WebSocket exports.

**Errors** are JSON everywhere (the `Error` schema): `{\"error\": \"<machine_code>\", \
\"message\": \"<human text>\", \"details\": [...]}`; `details` lists every validation problem, \
each naming its field. A body that is not JSON is 400 `malformed_json`; JSON of the wrong shape \
is a validation error (400 `invalid_event`, `invalid_plan`, `invalid_delta`, \
`invalid_definition`).

**Every path** answers a method it does not list with 405 `method_not_allowed` and an `Allow` \
header naming the method it serves; an unknown path is 404 `not_found`.

**Request bodies** must have a JSON content type (`application/json` with any parameters, or \
`application/*+json`: 415 `unsupported_media_type` otherwise) and fit the route's size limit \
(413 `payload_too_large`).

**503 and 429** answers carry `Retry-After` (seconds). While a graceful stop drains \
(`GET /readyz` answers 503 `draining`), every answer carries `Connection: close`.";

/// The document's derive: every operation, and the schemas the operations do not reach.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "switchboard",
        description = DESCRIPTION,
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::routes::webhook::ingest,
        crate::routes::definitions::create,
        crate::routes::deltas::apply,
        crate::routes::orchestrations::submit,
        crate::routes::orchestrations::report,
        crate::routes::orchestrations::completion,
        crate::routes::stream::stream,
        operations::healthz,
        operations::readyz,
        operations::actors,
        operations::metrics,
        operations::openapi,
    ),
    tags(
        (name = "routing", description = "Data Action webhooks routed to Kafka, then \
            acknowledged to CXone."),
        (name = "orchestration", description = "Plans: DAGs of Data Action sub-flows, with \
            completion webhooks."),
        (name = "deltas", description = "Delta sets applied in atomic batches."),
        (name = "definitions", description = "Data Action definitions, validated and created."),
        (name = "exports", description = "Batch exports streamed over a WebSocket."),
        (name = "operations", description = "Health, readiness, supervision, metrics and this \
            document."),
    ),
)]
pub struct ApiDoc;

/// Response headers that the service sends on every answer of the statuses listed: name,
/// statuses, and the header's OpenAPI object.
fn always_sent_headers() -> [(&'static str, &'static [&'static str], Value); 1] {
    [(
        "Retry-After",
        &["429", "503"],
        json!({
            "description": "Seconds to wait before trying again.",
            "required": true,
            "schema": {"type": "integer", "minimum": 0},
        }),
    )]
}

/// The document as JSON: [`ApiDoc`] with the conventions of the module docs applied (each
/// header of `always_sent_headers` added to every answer of its statuses, every response
/// header marked `required`, `null` taken out of the types of the request headers, and each
/// path described with the 405 and `Allow` its other methods get).
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    let headers = always_sent_headers();
    let operations = doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let parameters = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "header");
        for parameter in parameters {
            if let Some(types) = parameter
                .pointer_mut("/schema/type")
                .and_then(Value::as_array_mut)
            {
                types.retain(|t| t != "null");
                if let [only] = types.as_slice() {
                    let only = only.clone();
                    if let Some(schema) = parameter.get_mut("schema") {
                        schema["type"] = only;
                    }
                }
            }
        }
        let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            for (name, statuses, header) in &headers {
                if statuses.contains(&status.as_str()) {
                    response["headers"][*name] = header.clone();
                }
            }
            if let Some(documented) = response.get_mut("headers").and_then(Value::as_object_mut) {
                for header in documented.values_mut() {
                    header["required"] = json!(true);
                }
            }
        }
    }
    for item in doc["paths"]
        .as_object_mut()
        .into_iter()
        .flat_map(|paths| paths.values_mut())
    {
        let methods: Vec<String> = item
            .as_object()
            .into_iter()
            .flat_map(|operations| operations.keys())
            .map(|method| method.to_uppercase())
            .collect();
        item["description"] = json!(format!(
            "Any other method answers 405 `method_not_allowed` (the `Error` schema) with \
             `Allow: {}`.",
            methods.join(", ")
        ));
    }
    doc
}

/// The document as compact JSON, built once (what `GET /openapi.json` answers).
pub fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| document().to_string());
    &JSON
}

/// The document as pretty JSON (what `switchboard openapi` prints).
pub fn pretty() -> String {
    serde_json::to_string_pretty(&document()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_with_retry_after_on_every_503() {
        let doc = document();
        assert!(doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")));
        let mut seen = 0;
        for item in doc["paths"].as_object().expect("paths").values() {
            for operation in item.as_object().expect("path item").values() {
                if let Some(unavailable) = operation["responses"].get("503") {
                    assert_eq!(unavailable["headers"]["Retry-After"]["required"], true);
                    seen += 1;
                }
            }
        }
        assert!(seen >= 6, "{seen} operations answer 503");
    }

    #[test]
    fn json_and_pretty_hold_the_same_document() {
        let compact: Value = serde_json::from_str(json()).expect("json");
        let pretty: Value = serde_json::from_str(&pretty()).expect("pretty");
        assert_eq!(compact, pretty);
    }
}
