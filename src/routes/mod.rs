//! HTTP routes. Thin: parse, validate, send a message, map the reply to HTTP.
//!
//! - `webhook`: `POST /webhook/cxone/data-actions` (routing to Kafka);
//! - `event`: the webhook event's validation and dedupe key;
//! - `definitions`: `POST /data-actions`;
//! - `deltas`: `POST /deltas`;
//! - `orchestrations`: `POST /orchestrations`, `GET /orchestrations/{run_id}`, `POST /cxone/webhook`;
//! - `stream`: `GET /stream` (WebSocket exports);
//! - `health`: `/healthz`, `/readyz`, `/actors`, `/metrics`;
//! - `openapi`: `GET /openapi.json` (the API's OpenAPI document, [`crate::openapi`]).
//!
//! Every route is registered through [`route`], and each has its operation in the OpenAPI
//! document (`tests/api/openapi.rs` checks both against this file).

pub mod definitions;
pub mod deltas;
pub mod event;
pub mod health;
pub mod openapi;
pub mod orchestrations;
pub mod stream;
pub mod webhook;

use actix_web::http::header::{HeaderValue, ALLOW};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, FromRequest, Handler, HttpResponse, Responder, ResponseError};

use crate::error::ApiError;

/// Registers every route; unknown paths get 404 and wrong methods 405, both as JSON errors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(route(
        Method::POST,
        "/webhook/cxone/data-actions",
        webhook::ingest,
    ))
    .service(route(Method::POST, "/data-actions", definitions::create))
    .service(route(Method::POST, "/deltas", deltas::apply))
    .service(route(
        Method::POST,
        "/orchestrations",
        orchestrations::submit,
    ))
    .service(route(
        Method::GET,
        "/orchestrations/{run_id}",
        orchestrations::report,
    ))
    .service(route(
        Method::POST,
        "/cxone/webhook",
        orchestrations::completion,
    ))
    .service(route(Method::GET, "/stream", stream::stream))
    .service(route(Method::GET, "/healthz", health::healthz))
    .service(route(Method::GET, "/readyz", health::readyz))
    .service(route(Method::GET, "/actors", health::actors))
    .service(route(Method::GET, "/metrics", health::metrics))
    .service(route(Method::GET, "/openapi.json", openapi::document))
    .default_service(web::to(not_found));
}

/// A resource answering `method` at `path` with `handler`; any other method answers 405
/// `method_not_allowed` with `Allow: <method>` (RFC 9110).
pub fn route<F, Args>(method: Method, path: &str, handler: F) -> actix_web::Resource
where
    F: Handler<Args>,
    Args: FromRequest + 'static,
    F::Output: Responder + 'static,
{
    // A method's name is a token: always a valid header value.
    let allow = HeaderValue::from_str(method.as_str()).ok();
    web::resource(path)
        .route(web::method(method).to(handler))
        .default_service(web::to(move || {
            let allow = allow.clone();
            async move { method_not_allowed(allow) }
        }))
}

/// 405 `method_not_allowed` with `Allow`.
fn method_not_allowed(allow: Option<HeaderValue>) -> HttpResponse {
    let allowed = allow
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mut response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("this method is not allowed on this path (allowed: {allowed})"),
    )
    .error_response();
    if let Some(allow) = allow {
        response.headers_mut().insert(ALLOW, allow);
    }
    response
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such path",
    ))
}
