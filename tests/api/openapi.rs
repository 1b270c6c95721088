//! The OpenAPI document (`GET /openapi.json`, `switchboard openapi`): it is OpenAPI 3.1, it
//! documents exactly the routes `src/routes/mod.rs` registers, the CLI prints what the service
//! serves, and real answers conform to it — their status documented, their body valid against
//! the documented schema (checked with the `jsonschema` crate), their documented headers sent.

mod contract;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::helpers::{event, eventually, spawn_app};
use contract::{assert_conforms, call, conformance, served_document, validator, Answer};

/// The fields of an OpenAPI path item that are operations.
const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The routes `configure` registers, read from `src/routes/mod.rs`: every
/// `route(Method::X, "path", …)` as (lower-case method, path). Also asserts that every
/// `.service(` there registers one of them, so a route added another way fails here.
fn registered_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/routes/mod.rs");
    let pattern = regex::Regex::new(r#"route\(\s*Method::([A-Z]+),\s*"([^"]+)""#).expect("regex");
    let routes: BTreeSet<(String, String)> = pattern
        .captures_iter(source)
        .map(|c| (c[1].to_ascii_lowercase(), c[2].to_string()))
        .collect();
    assert_eq!(
        source.matches(".service(").count(),
        routes.len(),
        "every service in src/routes/mod.rs is registered with route(Method::…, \"path\", …)"
    );
    assert!(routes.len() >= 12, "{routes:?}");
    routes
}

/// The (method, path) pairs the document lists.
fn documented_routes(doc: &Value) -> BTreeSet<(String, String)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| HTTP_METHODS.contains(&key.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect()
}

#[actix_rt::test]
async fn the_served_document_is_openapi_3_1_and_documents_every_registered_route() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let registered = registered_routes();
    let documented = documented_routes(&doc);
    let undocumented: Vec<_> = registered.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes without a document: {undocumented:?}"
    );
    let unregistered: Vec<_> = documented.difference(&registered).collect();
    assert!(
        unregistered.is_empty(),
        "documented, not registered: {unregistered:?}"
    );
    // Every error answer of every operation is the shared Error schema (or a delta report
    // with its error); every 503 carries Retry-After; each path names its Allow.
    for (method, path) in &documented {
        let description = doc["paths"][path]["description"]
            .as_str()
            .unwrap_or_default();
        assert!(
            description.contains(&format!("`Allow: {}`", method.to_uppercase())),
            "{path}: {description}"
        );
        let responses = doc["paths"][path][method]["responses"]
            .as_object()
            .expect("responses");
        for (status, response) in responses {
            if status.as_str() == "503" || status.as_str() == "429" {
                assert_eq!(
                    response["headers"]["Retry-After"]["required"], true,
                    "{method} {path} {status}"
                );
            }
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                assert!(
                    schema == "#/components/schemas/Error"
                        || schema == "#/components/schemas/DeltaStopped",
                    "{method} {path} {status}: {schema}"
                );
            }
        }
    }
}

#[actix_rt::test]
async fn switchboard_openapi_prints_the_served_document() {
    let app = spawn_app().await;
    let served = served_document(&app).await;
    let out = actix_web::rt::task::spawn_blocking(|| {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .arg("openapi")
            .env("RUST_LOG", "error")
            .output()
            .expect("switchboard openapi runs")
    })
    .await
    .expect("the CLI thread");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(text.contains("\n  \"openapi\""), "pretty JSON");
    let printed: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(printed, served);
}

#[actix_rt::test]
async fn ingestion_answers_and_errors_conform_to_the_document() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let ingest = "/webhook/cxone/data-actions";
    let e = event("da-openapi-1", json!({"priority": "high"}));
    let routed = call(&app, "POST", ingest, Some(&e), &[("webhook-id", "msg-1")]).await;
    assert_eq!(
        (routed.status, &routed.body["status"]),
        (200, &json!("routed"))
    );
    assert_conforms(&doc, "post", ingest, &routed);
    let duplicate = call(&app, "POST", ingest, Some(&e), &[("webhook-id", "msg-1")]).await;
    assert_eq!(duplicate.body, json!({"status": "duplicate"}));
    assert_conforms(&doc, "post", ingest, &duplicate);
    let invalid = call(
        &app,
        "POST",
        ingest,
        Some(&json!({"payload": [], "x": 1})),
        &[],
    )
    .await;
    assert_eq!(invalid.status, 400);
    assert_eq!(invalid.body["details"].as_array().map(Vec::len), Some(3));
    assert_conforms(&doc, "post", ingest, &invalid);
    let text = call(
        &app,
        "POST",
        ingest,
        None,
        &[("content-type", "text/plain")],
    )
    .await;
    assert_eq!(text.status, 415);
    assert_conforms(&doc, "post", ingest, &text);
    // A wrong method: 405 with Allow naming the documented method.
    let wrong = call(&app, "PUT", ingest, Some(&e), &[]).await;
    assert_eq!(wrong.status, 405);
    assert_eq!(wrong.body["error"], "method_not_allowed");
    assert_eq!(wrong.header("allow"), Some("POST"));
    let errors = validator(&doc, &json!({"$ref": "#/components/schemas/Error"}));
    assert!(errors.is_valid(&wrong.body), "{}", wrong.body);
    // The WebSocket route's answer before any upgrade.
    let not_upgraded = call(&app, "GET", "/stream", None, &[]).await;
    assert_eq!(not_upgraded.body["error"], "websocket_upgrade_expected");
    assert_conforms(&doc, "get", "/stream", &not_upgraded);
}

#[actix_rt::test]
async fn operations_answers_conform_to_the_document() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    for path in ["/healthz", "/actors", "/metrics", "/openapi.json"] {
        let answer = call(&app, "GET", path, None, &[]).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_conforms(&doc, "get", path, &answer);
    }
    let ready = eventually(std::time::Duration::from_secs(10), "readiness", || async {
        let answer = call(&app, "GET", "/readyz", None, &[]).await;
        (answer.status == 200).then_some(answer)
    })
    .await;
    assert_conforms(&doc, "get", "/readyz", &ready);
    let actors = call(&app, "GET", "/actors", None, &[]).await;
    assert!(
        actors.body.as_array().is_some_and(|a| a.len() >= 9),
        "{}",
        actors.body
    );
}

#[actix_rt::test]
async fn orchestration_delta_and_definition_answers_conform_to_the_document() {
    let app = spawn_app().await;
    let doc = served_document(&app).await;
    let id = uuid::Uuid::new_v4().to_string();
    let plan = json!({
        "sub_flows": [{"id": id, "depends_on": [], "input_data": {}}],
        "concurrency_max": 1,
        "merge_condition": "ALL",
    });
    let accepted = call(&app, "POST", "/orchestrations", Some(&plan), &[]).await;
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    assert_conforms(&doc, "post", "/orchestrations", &accepted);
    let run_id = accepted.body["run_id"]
        .as_str()
        .expect("run_id")
        .to_string();
    let report = eventually(std::time::Duration::from_secs(30), "the run's end", || {
        let path = format!("/orchestrations/{run_id}");
        let app = &app;
        async move {
            let answer = call(app, "GET", &path, None, &[]).await;
            (answer.body["settled"] == true).then_some(answer)
        }
    })
    .await;
    assert_conforms(&doc, "get", "/orchestrations/{run_id}", &report);
    let unknown = call(&app, "GET", "/orchestrations/no-such-run", None, &[]).await;
    assert_eq!(unknown.status, 404);
    assert_conforms(&doc, "get", "/orchestrations/{run_id}", &unknown);
    let cyclic = json!({
        "sub_flows": [{"id": id, "depends_on": [id]}],
        "concurrency_max": 0,
        "merge_condition": "SOME",
    });
    let invalid_plan = call(&app, "POST", "/orchestrations", Some(&cyclic), &[]).await;
    assert_eq!(invalid_plan.body["error"], "invalid_plan");
    assert!(invalid_plan.body["details"][0]["kind"].is_string());
    assert_conforms(&doc, "post", "/orchestrations", &invalid_plan);
    let completion = json!({
        "event_id": uuid::Uuid::new_v4().to_string(),
        "source": "test",
        "data": {"subFlowId": id, "executionId": "no-such-execution", "status": "completed"},
        "timestamp": "2026-12-07T00:00:00Z",
    });
    let delivered = call(&app, "POST", "/cxone/webhook", Some(&completion), &[]).await;
    assert_eq!(delivered.status, 200, "{}", delivered.body);
    assert_conforms(&doc, "post", "/cxone/webhook", &delivered);

    let set = json!({
        "data_store_id": "openapi-store",
        "conflict_resolution": "OVERWRITE",
        "records": [{"id": "r1", "fields": {"name": "one"}}, {"id": "r2", "fields": {"n": 2}}],
    });
    let applied = call(&app, "POST", "/deltas", Some(&set), &[]).await;
    assert_eq!(applied.status, 200, "{}", applied.body);
    assert_conforms(&doc, "post", "/deltas", &applied);
    let conflicting = json!({
        "data_store_id": "openapi-store",
        "conflict_resolution": "FAIL",
        "records": [{"id": "r1", "version": 99, "fields": {"name": "uno"}}],
    });
    let stopped = call(&app, "POST", "/deltas", Some(&conflicting), &[]).await;
    assert_eq!(
        (stopped.status, &stopped.body["error"]),
        (409, &json!("conflict"))
    );
    assert_conforms(&doc, "post", "/deltas", &stopped);

    let definition = json!({
        "name": "OpenAPI lookup",
        "type": "REST",
        "configuration": {"method": "GET", "url": "https://inventory.example.com/stock"},
        "tags": ["openapi"],
    });
    let dry = call(
        &app,
        "POST",
        "/data-actions?dry_run=true",
        Some(&definition),
        &[],
    )
    .await;
    assert_eq!(dry.status, 200, "{}", dry.body);
    assert_conforms(&doc, "post", "/data-actions", &dry);
    let headers = [("X-Correlation-ID", "openapi-1")];
    let created = call(&app, "POST", "/data-actions", Some(&definition), &headers).await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("x-correlation-id"), Some("openapi-1"));
    assert_conforms(&doc, "post", "/data-actions", &created);
    let bad_query = call(
        &app,
        "POST",
        "/data-actions?dry_run=maybe",
        Some(&definition),
        &[],
    )
    .await;
    assert_eq!(bad_query.body["error"], "invalid_query");
    assert_conforms(&doc, "post", "/data-actions", &bad_query);
}

#[test]
fn an_answer_that_breaks_its_schema_fails_the_check() {
    let doc = switchboard::openapi::document();
    let answer = |status: u16, body: Value| Answer {
        status,
        headers: Vec::new(),
        content_type: "application/json".into(),
        body,
    };
    let ingest = "/webhook/cxone/data-actions";
    let routed = json!({"status": "routed", "topic": "t", "partition": 0, "offset": 1});
    assert_eq!(
        conformance(&doc, "post", ingest, &answer(200, routed.clone())),
        Ok(())
    );
    for body in [
        json!({"status": "routed", "topic": "t", "partition": 0}),
        json!({"status": "sent", "topic": "t", "partition": 0, "offset": 1}),
        json!({"status": "routed", "topic": "t", "partition": -1, "offset": 1}),
        json!({"status": "duplicated"}),
    ] {
        let checked = conformance(&doc, "post", ingest, &answer(200, body.clone()));
        assert!(checked.is_err(), "{body} passed");
    }
    let undocumented = conformance(&doc, "post", ingest, &answer(418, routed));
    assert!(undocumented.is_err_and(|e| e.contains("not documented")));
    let error = json!({"error": "queue_full", "message": "busy"});
    let without_retry_after = conformance(&doc, "post", ingest, &answer(503, error.clone()));
    assert!(without_retry_after.is_err_and(|e| e.contains("Retry-After")));
    let with_retry_after = Answer {
        headers: vec![("retry-after".into(), "1".into())],
        ..answer(503, error)
    };
    assert_eq!(conformance(&doc, "post", ingest, &with_retry_after), Ok(()));
}
