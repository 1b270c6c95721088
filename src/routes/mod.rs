//! HTTP routes. Thin: parse, validate, send a message, map the reply to HTTP.
//!
//! - `webhook`: `POST /webhook/cxone/data-actions` (routing to Kafka);
//! - `event`: the webhook event's validation and dedupe key;
//! - `definitions`: `POST /data-actions`;
//! - `deltas`: `POST /deltas`;
//! - `orchestrations`: `POST /orchestrations`, `GET /orchestrations/{run_id}`, `POST /cxone/webhook`;
//! - `stream`: `GET /stream` (WebSocket exports);
//! - `health`: `/healthz`, `/readyz`, `/actors`, `/metrics`.

pub mod definitions;
pub mod deltas;
pub mod event;
pub mod health;
pub mod orchestrations;
pub mod stream;
pub mod webhook;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};

use crate::error::ApiError;

/// Registers every route; unknown paths get 404 and wrong methods 405, both as JSON errors.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/webhook/cxone/data-actions").route(web::post().to(webhook::ingest)))
        .service(resource("/data-actions").route(web::post().to(definitions::create)))
        .service(resource("/deltas").route(web::post().to(deltas::apply)))
        .service(resource("/orchestrations").route(web::post().to(orchestrations::submit)))
        .service(resource("/orchestrations/{run_id}").route(web::get().to(orchestrations::report)))
        .service(resource("/cxone/webhook").route(web::post().to(orchestrations::completion)))
        .service(web::resource("/stream").route(web::get().to(stream::stream)))
        .service(resource("/healthz").route(web::get().to(health::healthz)))
        .service(resource("/readyz").route(web::get().to(health::readyz)))
        .service(resource("/actors").route(web::get().to(health::actors)))
        .service(resource("/metrics").route(web::get().to(health::metrics)))
        .default_service(web::to(not_found));
}

/// A resource whose unmatched methods answer 405 `method_not_allowed`.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this method is not allowed on this path",
    ))
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such path",
    ))
}
