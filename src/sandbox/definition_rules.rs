//! The sandbox's definition validation: the same rules the platform profile documents and the
//! service applies before sending (`switchboard_actors::definitions::validate`, seed 002),
//! with `http://` URLs refused — a definition the service lets through only with
//! `definitions.allow_http` is refused here, as a strict gateway would.

use serde_json::Value;

use super::error::FieldProblem;

/// Every problem of a definition body, by dotted field; empty when valid.
pub fn validate_definition(body: &Value) -> Vec<FieldProblem> {
    switchboard_actors::definitions::validate::validate(body, false)
        .err()
        .unwrap_or_default()
        .into_iter()
        .map(|mut p| {
            if p.field.is_empty() {
                p.field = "body".into();
            }
            p
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seed_definition_passes_and_http_urls_are_refused() {
        let mut def = json!({"name": "Inventory", "type": "REST",
            "configuration": {"method": "GET", "url": "https://inventory.example.com/x", "timeout": 3000}});
        assert!(validate_definition(&def).is_empty());
        def["configuration"]["url"] = json!("http://inventory.example.com/x");
        let problems = validate_definition(&def);
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field, "configuration.url");
        assert_eq!(validate_definition(&json!([]))[0].field, "body");
    }
}
