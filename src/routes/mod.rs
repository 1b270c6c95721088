//! HTTP routes. Thin: parse, validate, send a message, map the reply to HTTP.
//!
//! - `webhook`: `POST /webhook/cxone/data-actions` (routing to Kafka);
//! - `event`: the webhook event's validation and dedupe key;
//! - `body`: JSON request bodies (content type, size, parse);
//! - `definitions`: `POST /data-actions`;
//! - `deltas`: `POST /deltas`;
//! - `orchestrations`: `POST /orchestrations`, `GET /orchestrations/{run_id}`, `POST /cxone/webhook`;
//! - `stream`: `GET /stream` (WebSocket exports);
//! - `health`: `/healthz`, `/readyz`, `/metrics`.

pub mod body;
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
    cfg.service(
        web::resource("/webhook/cxone/data-actions")
            .route(web::post().to(webhook::ingest))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/data-actions")
            .route(web::post().to(definitions::create))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/deltas")
            .route(web::post().to(deltas::apply))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/orchestrations")
            .route(web::post().to(orchestrations::submit))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/orchestrations/{run_id}")
            .route(web::get().to(orchestrations::report))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/cxone/webhook")
            .route(web::post().to(orchestrations::completion))
            .default_service(web::to(method_not_allowed)),
    )
    .service(web::resource("/stream").route(web::get().to(stream::stream)))
    .service(
        web::resource("/healthz")
            .route(web::get().to(health::healthz))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(health::readyz))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(health::metrics))
            .default_service(web::to(method_not_allowed)),
    )
    .default_service(web::to(not_found));
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
