//! What the HTTP routes share: the settings, the long-lived actors' addresses, the export
//! options, the signature verifier and the routing rules. Built by
//! [`Application::build`](crate::startup::Application::build), read by every route.

use std::sync::Arc;

use actix::prelude::*;
use switchboard_actors::definitions::DefinitionActor;
use switchboard_actors::deltas::DeltaBatchActor;
use switchboard_actors::exports::ExportOptions;
use switchboard_actors::orchestration::{CompletionRouter, RunsActor};
use switchboard_actors::router::LiveRules;
use switchboard_actors::store::SqlRunReports;
use switchboard_actors::{
    AcknowledgementActor, AuditActor, Drain, KafkaRouterActor, RateLimiterActor, TokenActor,
};

use crate::config::Settings;
use crate::signature::SignatureVerifier;

/// What routes share.
pub struct AppState {
    /// The loaded settings.
    pub settings: Arc<Settings>,
    /// The long-lived actors.
    pub actors: Actors,
    /// What export streams share.
    pub exports: ExportOptions,
    /// Webhook signature verifier, when `routing.signing_secret` or `routing.signing_secrets`
    /// holds a secret.
    pub verifier: Option<Arc<dyn SignatureVerifier>>,
    /// The routing rules in force (`routing.rules_file`, replaced by a reload), matched on
    /// the HTTP worker that received the event.
    pub rules: Arc<LiveRules>,
    /// Runs' reports in the state store: a run of another replica, or of this one before a
    /// restart.
    pub run_reports: SqlRunReports,
    /// The graceful stop's state: readiness fails and responses close their connection
    /// while it drains.
    pub drain: Drain,
}

/// Addresses of the long-lived actors (each under a supervisor).
#[derive(Clone)]
pub struct Actors {
    /// Kafka router.
    pub router: Addr<KafkaRouterActor>,
    /// Acknowledgements to CXone.
    pub acknowledger: Addr<AcknowledgementActor>,
    /// Token cache.
    pub token: Addr<TokenActor>,
    /// Definition creation.
    pub definitions: Addr<DefinitionActor>,
    /// Delta batches.
    pub deltas: Addr<DeltaBatchActor>,
    /// Orchestration runs.
    pub runs: Addr<RunsActor>,
    /// Completion webhooks → sub-flows.
    pub completions: Addr<CompletionRouter>,
    /// Client-side rate limiter.
    pub limiter: Addr<RateLimiterActor>,
    /// Audit log.
    pub audit: Addr<AuditActor>,
}
