//! The admin API under `/sandbox/` (JSON in and out, no auth): faults, state, reset.
//! `POST /sandbox/emit` lives in [`emit`](super::emit).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::error::ApiError;
use super::faults::FaultsPatch;
use super::state::Shared;

/// `GET /sandbox/faults`: the current settings ([`Faults`](super::Faults) as JSON).
pub async fn get_faults(shared: web::Data<Shared>) -> HttpResponse {
    let faults = shared.lock().faults.clone();
    HttpResponse::Ok().json(faults)
}

/// `POST /sandbox/faults`: changes any subset of the settings and returns them all.
///
/// Body: a JSON object with any of `rate_limit_per_minute` (u32 ≥ 1), `token_ttl_secs`
/// (u64 ≥ 1, applies to tokens issued afterwards), `error_rate`, `throttle_rate` (0..=1),
/// `latency_ms` (≤ 3600000), `drop_webhooks`, `redirect_loop` (bool), `client_id`,
/// `client_secret` (non-empty strings). A new `rate_limit_per_minute` refills every tenant's bucket at the
/// new capacity. Errors: 400 `invalid_faults` naming each bad field; nothing is applied then.
pub async fn set_faults(
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    let patch = FaultsPatch::parse(&body)?;
    let mut state = shared.lock();
    if patch.apply(&mut state.faults) {
        // Buckets are created full, at the current capacity, on each tenant's next call.
        state.buckets.clear();
    }
    let faults = state.faults.clone();
    drop(state);
    log::info!(
        "component=sandbox event=faults_changed rate_limit_per_minute={} error_rate={} throttle_rate={} latency_ms={}; fault settings changed",
        faults.rate_limit_per_minute,
        faults.error_rate,
        faults.throttle_rate,
        faults.latency_ms
    );
    Ok(HttpResponse::Ok().json(faults))
}

/// `GET /sandbox/state`: the recorded state ([`Records`](super::Records) as JSON),
/// serialised under the lock rather than cloned (the executions list may be long).
pub async fn get_state(shared: web::Data<Shared>) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(&shared.lock().records)
        .map_err(|e| ApiError::InvalidPayload(format!("state could not be serialised: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(body))
}

/// `POST /sandbox/reset`: clears every record and restores the start-up settings; issued
/// tokens stay valid until they expire. Answers `{"status": "reset"}`.
pub async fn reset(shared: web::Data<Shared>) -> HttpResponse {
    shared.lock().reset(&shared.options);
    log::info!("component=sandbox event=reset; state and faults reset");
    HttpResponse::Ok().json(json!({"status": "reset"}))
}

/// `POST /sandbox/revoke-tokens`: revokes every issued token, as a tenant's administrator
/// rotating credentials would; the next API call with one gets 401 `invalid_token`.
/// Answers `{"revoked": n}`.
pub async fn revoke_tokens(shared: web::Data<Shared>) -> HttpResponse {
    let revoked = {
        let mut state = shared.lock();
        let n = state.tokens.len();
        state.tokens.clear();
        n
    };
    log::info!(
        "component=sandbox event=tokens_revoked revoked={revoked}; every issued token revoked"
    );
    HttpResponse::Ok().json(json!({"revoked": revoked}))
}
