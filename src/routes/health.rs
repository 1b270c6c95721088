//! `GET /healthz` (the process is up), `GET /readyz` (the broker answers metadata requests and
//! a CXone token can be had; 503 with the reason otherwise, and while the service drains), `GET /actors` (the supervision
//! view) and `GET /metrics` (Prometheus).

use std::time::Duration;

use actix::{Actor, Addr, Handler};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use serde_json::json;
use switchboard_actors::{CheckBroker, GetLifecycle, GetToken, LifecycleReport};

use crate::error::ApiError;
use crate::state::AppState;

/// Longest a readiness probe waits for each dependency.
pub const READINESS_TIMEOUT: Duration = Duration::from_secs(5);

/// Liveness: 200 `{"status":"ok"}` while the process serves HTTP.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Readiness: 200 `{"status":"ready","broker":{"topics":n},"token":"ok"}`; 503 `draining`
/// at once while a graceful stop drains (the service still serves, but a load balancer should
/// send nothing new); or 503 `not_ready` naming what failed.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.drain.is_draining() {
        return Err(ApiError::unavailable(
            "draining",
            "the service is shutting down; send new requests to another replica",
            1,
        ));
    }
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

/// Longest the supervision view waits for an actor's answer.
pub const ACTORS_TIMEOUT: Duration = Duration::from_secs(1);

/// Asks `addr` for its line of the supervision view; `None` when it does not answer in time
/// (it is restarting, or busy).
async fn lifecycle<A>(addr: &Addr<A>) -> Option<LifecycleReport>
where
    A: Actor<Context = actix::Context<A>> + Handler<GetLifecycle>,
{
    tokio::time::timeout(ACTORS_TIMEOUT, addr.send(GetLifecycle))
        .await
        .ok()?
        .ok()
}

/// The supervision view: 200 with a JSON list, one entry per supervised actor, in a fixed
/// order: `{"actor", "restarts", "last_restart": {"at", "cause"} | null, "queue": n | null,
/// "answering": bool}` (`queue`: what waits in the actor's own queue, where it keeps one; an
/// actor that does not answer within [`ACTORS_TIMEOUT`] is listed by name with `answering`
/// false).
pub async fn actors(state: web::Data<AppState>) -> HttpResponse {
    let a = &state.actors;
    let answers = futures::join!(
        lifecycle(&a.router),
        lifecycle(&a.acknowledger),
        lifecycle(&a.token),
        lifecycle(&a.limiter),
        lifecycle(&a.audit),
        lifecycle(&a.definitions),
        lifecycle(&a.deltas),
        lifecycle(&a.runs),
        lifecycle(&a.completions),
    );
    let named = [
        ("KafkaRouterActor", answers.0),
        ("AcknowledgementActor", answers.1),
        ("TokenActor", answers.2),
        ("RateLimiterActor", answers.3),
        ("AuditActor", answers.4),
        ("DefinitionActor", answers.5),
        ("DeltaBatchActor", answers.6),
        ("RunsActor", answers.7),
        ("CompletionRouter", answers.8),
    ];
    let list: Vec<serde_json::Value> = named
        .into_iter()
        .map(|(name, report)| match report {
            Some(r) => json!({
                "actor": r.actor,
                "restarts": r.restarts,
                "last_restart": r.last_restart,
                "queue": r.queue,
                "answering": true,
            }),
            None => json!({
                "actor": name,
                "restarts": null,
                "last_restart": null,
                "queue": null,
                "answering": false,
            }),
        })
        .collect();
    HttpResponse::Ok().json(list)
}

/// Prometheus text exposition of every metric.
pub async fn metrics() -> HttpResponse {
    HttpResponse::build(StatusCode::OK)
        .content_type("text/plain; version=0.0.4")
        .body(switchboard_actors::metrics::render())
}
