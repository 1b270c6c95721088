//! `GET /healthz` (the process is up), `GET /readyz` (the broker answers metadata requests and
//! a CXone token can be had; 503 with the reason otherwise) and `GET /metrics` (Prometheus).

use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;
use switchboard_actors::{CheckBroker, GetToken};

use crate::error::ApiError;
use crate::state::AppState;

/// Longest a readiness probe waits for each dependency.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(5);

/// Liveness: 200 `{"status":"ok"}` while the process serves HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: 200 `{"status":"ready","broker":{"topics":n},"token":"ok"}`, or 503
/// `not_ready` naming what failed.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let broker = tokio::time::timeout(READINESS_TIMEOUT, state.actors.router.send(CheckBroker));
    let token = tokio::time::timeout(READINESS_TIMEOUT, state.actors.token.send(GetToken));
    let (broker, token) = futures::join!(broker, token);
    let broker = match broker {
        Ok(Ok(Ok(topics))) => Ok(topics),
        Ok(Ok(Err(e))) => Err(format!("broker: {e}")),
        Ok(Err(_)) => Err("broker: the router is restarting".to_string()),
        Err(_) => Err("broker: no answer in time".to_string()),
    };
    let token = match token {
        Ok(Ok(Ok(_))) => Ok(()),
        Ok(Ok(Err(e))) => Err(format!("token: {e}")),
        Ok(Err(_)) => Err("token: the token actor is restarting".to_string()),
        Err(_) => Err("token: no answer in time".to_string()),
    };
    match (broker, token) {
        (Ok(topics), Ok(())) => Ok(HttpResponse::Ok().json(json!({
            "status": "ready",
            "broker": {"topics": topics},
            "token": "ok",
        }))),
        (b, t) => {
            let reasons: Vec<String> = [b.err(), t.err()].into_iter().flatten().collect();
            Err(ApiError::unavailable("not_ready", reasons.join("; "), 1))
        }
    }
}

/// Prometheus text exposition of every metric.
pub async fn metrics() -> HttpResponse {
    HttpResponse::build(StatusCode::OK)
        .content_type("text/plain; version=0.0.4")
        .body(switchboard_actors::metrics::render())
}
