//! `POST /data-actions`: create a Data Action definition (seed 002); `?dry_run=true`
//! validates and sizes the header matrix only. The request's `X-Correlation-ID`, when present,
//! is the correlation id, used unchanged.
//!
//! Answers: 201 with the created definition (as CXone returned it) plus `"audit"`
//! (`correlation_id`, `status`, `latency_ms`, `outcome`); dry run 200 `{"definition",
//! "header_matrix_bytes", "correlation_id"}`; 400 `malformed_json`, `invalid_definition`
//! (`details`: `{"field","message"}` with dotted fields), `header_matrix_too_large`;
//! 415, 413; 400 `invalid_query` for a query it cannot read (`dry_run` not `true`/`false`);
//! 502 `upstream_error` (with the API's body in `upstream`), 502 `too_many_redirects`, 429
//! `rate_limited`, 502 `upstream_unavailable`; 503 `actor_unavailable`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use switchboard_actors::definitions::{CreateDefinition, Created};

use crate::answers::{created_json, definition_error, DryRunAnswer};
use crate::body::{parse_json, read_json_body};
use crate::error::{ApiError, ErrorBody};
use crate::openapi::schemas::{CreatedDefinition, Definition};
use crate::state::AppState;

/// Query of `POST /data-actions`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CreateQuery {
    /// Validate and size the header matrix only; send nothing (`true` or `false`).
    #[serde(default)]
    pub dry_run: bool,
}

impl CreateQuery {
    /// Reads the query string; unknown parameters are ignored.
    ///
    /// Errors: 400 `invalid_query` naming the parameter it cannot read.
    pub fn parse(query: &str) -> Result<Self, ApiError> {
        web::Query::<CreateQuery>::from_query(query)
            .map(web::Query::into_inner)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_query",
                    format!("the query string cannot be read (dry_run is true or false): {e}"),
                )
            })
    }
}

/// The handler.
#[utoipa::path(
    post,
    path = "/data-actions",
    tag = "definitions",
    operation_id = "create_definition",
    summary = "Validate a Data Action definition and create it through CXone",
    description = "Every problem of the definition is reported at once; the header matrix \
        (`Content-Type`, `Accept`, `X-Correlation-ID`, `X-Request-Source`, `Authorization` \
        and `definitions.extra_headers`) may hold at most 8192 bytes. Nothing is sent for an \
        invalid definition or a dry run.",
    params(
        CreateQuery,
        ("X-Correlation-ID" = Option<String>, Header, description = "The correlation id, used \
            unchanged (default: a new UUID); a value that cannot be sent as a header is \
            refused (400 `invalid_definition`)."),
    ),
    request_body(
        content = Definition,
        content_type = "application/json",
        description = "The definition (seed 002); at most `server.max_body_bytes`.",
    ),
    responses(
        (status = 200, description = "Dry run: valid; nothing sent.", body = DryRunAnswer),
        (status = 201, description = "Created: the definition as CXone returned it, plus \
            `audit`.", body = CreatedDefinition,
            headers(("X-Correlation-ID" = String, description = "The correlation id sent."))),
        (status = 400, description = "`malformed_json`, `invalid_definition` (every problem \
            in `details`, dotted fields), `header_matrix_too_large`, `invalid_query` or \
            `payload_error`; nothing sent.", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over `server.max_body_bytes`.",
            body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: the content type is not JSON.",
            body = ErrorBody),
        (status = 429, description = "`rate_limited`: CXone still answered 429 after \
            `definitions.rate_limit_retries` retries.", body = ErrorBody),
        (status = 502, description = "`upstream_error` (CXone refused it; `upstream` holds its \
            status and body), `too_many_redirects` or `upstream_unavailable` (CXone \
            unreachable, TLS refused, or no token).", body = ErrorBody),
        (status = 503, description = "`actor_unavailable`: the definition actor is restarting.",
            body = ErrorBody),
    ),
)]
pub async fn create(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let query = CreateQuery::parse(req.query_string())?;
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
