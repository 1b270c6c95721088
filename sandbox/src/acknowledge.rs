//! `POST /api/v2/data/actions/{id}/acknowledge`: idempotent acknowledgement of an event.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::limits::admit;
use super::state::{SandboxState, Shared};

/// Path template of the acknowledge endpoint (as counted in `requests`).
pub const ACKNOWLEDGE_PATH: &str = "/api/v2/data/actions/{id}/acknowledge";

/// Records the acknowledgement of `data_action_id`.
///
/// Errors: [`ApiError::AlreadyAcknowledged`] when it was acknowledged before (not counted).
pub fn acknowledge_event(state: &mut SandboxState, data_action_id: &str) -> Result<(), ApiError> {
    if state.records.acknowledgements.contains_key(data_action_id) {
        return Err(ApiError::AlreadyAcknowledged(data_action_id.to_owned()));
    }
    state
        .records
        .acknowledgements
        .insert(data_action_id.to_owned(), 1);
    Ok(())
}

/// `POST /api/v2/data/actions/{id}/acknowledge` (bearer auth; the body is ignored).
///
/// Answers 200 `{"dataActionId": id, "acknowledged": true}` the first time for an id.
/// Errors: 409 `already_acknowledged` afterwards, and the admission errors of
/// [`admit`] (401, 429, 503).
pub async fn acknowledge(
    req: HttpRequest,
    id: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &shared).await?;
    let id = id.into_inner();
    acknowledge_event(&mut shared.lock(), &id)?;
    Ok(HttpResponse::Ok().json(json!({"dataActionId": id, "acknowledged": true})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SandboxOptions;

    #[test]
    fn the_first_acknowledgement_counts_and_later_ones_conflict() {
        let mut state = SandboxState::new(&SandboxOptions::default());
        assert_eq!(acknowledge_event(&mut state, "evt-1"), Ok(()));
        assert_eq!(
            acknowledge_event(&mut state, "evt-1"),
            Err(ApiError::AlreadyAcknowledged("evt-1".to_owned()))
        );
        assert_eq!(acknowledge_event(&mut state, "evt-2"), Ok(()));
        assert_eq!(state.records.acknowledgements.get("evt-1"), Some(&1));
        assert_eq!(state.records.acknowledgements.len(), 2);
    }
}
