//! One problem found in a request body, as the sandbox lists it in the `details` of a 400
//! `invalid_definition`: `{"field": "<dotted path>", "message": "<text>"}`.

use serde::Serialize;

/// One problem of a request body: the field as a dotted path (`configuration.url`), an
/// indexed one (`tags[2]`), or `body` for the body as a whole; and what is wrong with it.
/// Serialised as `{"field", "message"}`, in that order.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field, as a dotted or indexed path.
    pub field: String,
    /// What is wrong with it, in a few words.
    pub message: String,
}

impl FieldProblem {
    /// A problem with `field`, described by `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldProblem {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_serialises_as_field_then_message() {
        let text = serde_json::to_string(&FieldProblem::new("tags[1]", "is a duplicate"))
            .expect("serialisable");
        assert_eq!(text, r#"{"field":"tags[1]","message":"is a duplicate"}"#);
    }
}
