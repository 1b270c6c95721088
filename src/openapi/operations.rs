//! The operations whose handlers carry no `#[utoipa::path]` of their own: the health routes
//! (`src/routes/health.rs`, which build their answers with `json!`; their schemas are in
//! [`super::schemas`] and the tests check real answers against them) and `GET /openapi.json`
//! (whose handler serves this document, so it cannot be part of it without an import
//! circle). Each function here only carries its operation's description.

#![allow(dead_code)]

use crate::error::ErrorBody;
use crate::openapi::schemas::{ActorStatus, Health, Readiness};

/// `GET /healthz`.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    summary = "Liveness",
    responses((status = 200, description = "The process serves HTTP.", body = Health)),
)]
fn healthz() {}

/// `GET /readyz`.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    summary = "Readiness: the broker answers metadata requests and a CXone token can be had",
    description = "Each dependency is asked with a 5 s timeout.",
    responses(
        (status = 200, description = "Ready.", body = Readiness),
        (status = 503, description = "`not_ready` (the message names what failed: broker, \
            token), or `draining`: a graceful stop is under way (the service still serves for \
            `server.shutdown_timeout_secs`, but a load balancer should send nothing new).",
            body = ErrorBody),
    ),
)]
fn readyz() {}

/// `GET /actors`.
#[utoipa::path(
    get,
    path = "/actors",
    tag = "operations",
    operation_id = "actors",
    summary = "The supervision view: one line per supervised actor",
    description = "In a fixed order. An actor that does not answer within 1 s (restarting, \
        or busy) is listed by name with `answering` false.",
    responses((status = 200, description = "The supervised actors.", body = Vec<ActorStatus>)),
)]
fn actors() {}

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics (text exposition format 0.0.4)",
    description = "Events by outcome, 503s by reason, dead letters by reason, records per \
        topic and partition, produce latency and batch sizes, the router's queue, \
        acknowledgements by outcome and their queue, actor restarts, CXone calls.",
    responses((status = 200, description = "The metrics.", body = String,
        content_type = "text/plain; version=0.0.4")),
)]
fn metrics() {}

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    summary = "This document",
    description = "The OpenAPI 3.1 document of this API, generated from the service's types; \
        `switchboard openapi` prints the same.",
    responses((status = 200, description = "The document.", body = Object)),
)]
fn openapi() {}
