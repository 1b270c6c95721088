//! A definition the sandbox created (by [`definitions`](crate::definitions)), as the state
//! keeps it.

use serde::Serialize;
use serde_json::Value;

/// A created definition as `GET /sandbox/state` lists it in `definitions`:
/// `{"id": uuid, "correlation_id": string or null, "definition": <the body as received>}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DefinitionRecord {
    /// The id given to the definition (UUID v4).
    pub id: String,
    /// The request's `X-Correlation-ID`, if any.
    pub correlation_id: Option<String>,
    /// The request body, as JSON.
    pub definition: Value,
}
