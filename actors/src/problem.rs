//! Validation problems, shared by every validator (events, definitions, delta sets, plans)
//! and rendered by the HTTP layer into the `details` of a JSON error.

use serde::Serialize;

/// One problem of a request, naming the field as a dotted path (`configuration.url`) or an
/// indexed one (`records[3].id`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldProblem {
    /// The field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}
