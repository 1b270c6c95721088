//! `POST /api/v2/data-actions`: creation, validation and the `redirect_loop` fault.

use serde_json::{json, Value};

use super::spawn_sandbox;
use crate::SandboxOptions;

const DEFINITIONS: &str = "/api/v2/data-actions";

/// The seed 002 definition.
fn seed_definition() -> Value {
    json!({
        "name": "FetchExternalInventory",
        "description": "Retrieves real-time stock levels from warehouse API",
        "type": "REST",
        "configuration": {
            "method": "GET",
            "url": "https://inventory.example.com/api/v2/stock",
            "timeout": 3000,
            "headers": {"X-API-Key": "{{inventory_api_key}}"},
        },
        "enabled": true,
        "tags": ["inventory", "external", "production"],
    })
}

fn bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("serialisable")
}

#[actix_rt::test]
async fn a_valid_definition_is_created_and_recorded_with_its_correlation_id() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let definition = seed_definition();
    let reply = app
        .send(
            "POST",
            DEFINITIONS,
            Some(&token),
            &[("X-Correlation-ID", "corr-42")],
            &bytes(&definition),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["id"].as_str().expect("id").to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    for field in [
        "name",
        "description",
        "type",
        "configuration",
        "enabled",
        "tags",
    ] {
        assert_eq!(reply.body[field], definition[field], "{field}");
    }
    let created_at = reply.body["createdAt"].as_str().expect("createdAt");
    assert!(chrono::DateTime::parse_from_rfc3339(created_at).is_ok());

    let minimal = json!({"name": "script one", "type": "SCRIPT", "configuration": {}});
    let reply = app
        .send("POST", DEFINITIONS, Some(&token), &[], &bytes(&minimal))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["enabled"], true);
    assert_eq!(reply.body["tags"], json!([]));

    let state = app.state().await;
    let definitions = state["definitions"].as_array().expect("list");
    assert_eq!(definitions.len(), 2);
    assert_eq!(
        definitions[0],
        json!({"id": id, "correlation_id": "corr-42", "definition": definition})
    );
    assert_eq!(definitions[1]["correlation_id"], Value::Null);
    assert_eq!(definitions[1]["definition"], minimal);
    assert_eq!(state["requests"]["POST /api/v2/data-actions 201"], 2);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn an_invalid_definition_answers_400_listing_every_problem() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    let mut definition = seed_definition();
    definition["name"] = json!("");
    definition["configuration"]["url"] = json!("http://inventory.example.com");
    definition["configuration"]["timeout"] = json!(90_000);
    definition["tags"] = json!(["a", "a"]);
    let reply = app
        .send("POST", DEFINITIONS, Some(&token), &[], &bytes(&definition))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(reply.body["error"], "invalid_definition");
    assert!(reply.body["message"].is_string());
    let fields: Vec<&str> = reply.body["details"]
        .as_array()
        .expect("details")
        .iter()
        .filter_map(|d| d["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "configuration.url",
            "configuration.timeout",
            "tags[1]"
        ]
    );
    assert!(reply.body["details"][0]["message"].is_string());

    let reply = app
        .send("POST", DEFINITIONS, Some(&token), &[], b"{oops")
        .await;
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (400, Some("malformed_json"))
    );
    let reply = app
        .send("POST", DEFINITIONS, None, &[], &bytes(&seed_definition()))
        .await;
    assert_eq!(reply.status, 401);
    let state = app.state().await;
    assert_eq!(state["definitions"], json!([]));
    assert_eq!(state["requests"]["POST /api/v2/data-actions 400"], 2);
    app.sandbox.stop().await;
}

#[actix_rt::test]
async fn redirect_loop_answers_302_to_the_next_hop_for_ever() {
    let app = spawn_sandbox(SandboxOptions::default()).await;
    let token = app.token().await;
    app.admin(
        "POST",
        "/sandbox/faults",
        Some(json!({"redirect_loop": true})),
    )
    .await;
    let body = bytes(&seed_definition());
    let mut path = DEFINITIONS.to_owned();
    for hop in 1..=12 {
        let reply = app.send("POST", &path, Some(&token), &[], &body).await;
        assert_eq!(reply.status, 302, "hop {hop}: {}", reply.body);
        let location = reply.header("location").expect("Location").to_owned();
        assert_eq!(location, format!("{DEFINITIONS}?hop={hop}"));
        path = location;
    }
    // A client switching to GET after a 302 is redirected as well.
    let reply = app.send("GET", &path, Some(&token), &[], b"").await;
    assert_eq!(reply.status, 302);
    assert_eq!(
        reply.header("location"),
        Some(format!("{DEFINITIONS}?hop=13").as_str())
    );

    let state = app.state().await;
    assert_eq!(state["requests"]["POST /api/v2/data-actions 302"], 12);
    assert_eq!(state["requests"]["GET /api/v2/data-actions 302"], 1);
    assert_eq!(state["definitions"], json!([]));

    app.admin(
        "POST",
        "/sandbox/faults",
        Some(json!({"redirect_loop": false})),
    )
    .await;
    let reply = app.send("POST", &path, Some(&token), &[], &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let reply = app.send("GET", DEFINITIONS, Some(&token), &[], b"").await;
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    app.sandbox.stop().await;
}
