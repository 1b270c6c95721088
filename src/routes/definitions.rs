//! `POST /data-actions`: create a Data Action definition (seed 002); `?dry_run=true`
//! validates and sizes the header matrix only. The request's `X-Correlation-ID`, when present,
//! is the correlation id, used unchanged.
//!
//! Answers: 201 with the created definition (as CXone returned it) plus `"audit"`
//! (`correlation_id`, `status`, `latency_ms`, `outcome`); dry run 200 `{"definition",
//! "header_matrix_bytes", "correlation_id"}`; 400 `malformed_json`, `invalid_definition`
//! (`details`: `{"field","message"}` with dotted fields), `header_matrix_too_large`;
//! 415, 413; 502 `upstream_error` (with the API's body in `upstream`), 502
//! `too_many_redirects`, 429 `rate_limited`, 502 `upstream_unavailable`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::definitions::{CreateDefinition, Created};

use crate::answers::{created_json, definition_error};
use crate::body::{parse_json, read_json_body};
use crate::error::ApiError;
use crate::state::AppState;

/// Query of `POST /data-actions`.
#[derive(Debug, Deserialize)]
pub struct CreateQuery {
    /// Validate only.
    #[serde(default)]
    pub dry_run: bool,
}

/// The handler.
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    query: web::Query<CreateQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_body(&req, payload, state.settings.server.max_body_bytes).await?;
    let definition = parse_json(&body)?;
    let correlation_id = req
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let created = state
        .actors
        .definitions
        .send(CreateDefinition {
            definition,
            correlation_id,
            extra_headers: Vec::new(),
            dry_run: query.dry_run,
        })
        .await
        .map_err(|_| {
            ApiError::unavailable("actor_unavailable", "the definition actor is restarting", 1)
        })?
        .map_err(definition_error)?;
    Ok(match created {
        Created::DryRun { .. } => HttpResponse::Ok().json(created_json(created)),
        Created::Created { ref audit, .. } => {
            let correlation_id = audit.correlation_id.clone();
            HttpResponse::Created()
                .insert_header(("X-Correlation-ID", correlation_id))
                .json(created_json(created))
        }
    })
}
