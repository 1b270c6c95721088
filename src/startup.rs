//! Start-up wiring: `Application::build(settings)` starts the sandbox (when asked), the
//! supervised actors, connects to Kafka (creating topics, checking partitions), and binds the
//! HTTP server (port 0 in tests); `port()` tells where it listens.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::Service as _;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use switchboard_actors::cxone::{api, CxoneRuntime};
use switchboard_actors::definitions::DefinitionActor;
use switchboard_actors::deltas::DeltaBatchActor;
use switchboard_actors::exports::ExportOptions;
use switchboard_actors::metrics::METRICS;
use switchboard_actors::orchestration::{self, DurableRuns, ReleaseRuns};
use switchboard_actors::router::{LiveRules, MemoryDedupe, Route, RouterIntake};
use switchboard_actors::settings::DedupeMode;
use switchboard_actors::store::{
    SharedDedupe, SqlCheckpointStore, SqlCompletions, SqlRunReports, Store,
};
use switchboard_actors::{
    AcknowledgementActor, CxoneHandle, Drain, Flush, KafkaConnection, KafkaRouterActor,
};
use switchboard_sandbox::Sandbox;

use crate::config::{ServerSettings, Settings};
use crate::reload::RulesReload;
use crate::shutdown::GracefulStop;
use crate::signature::{SignatureVerifier, StandardWebhooks};
use crate::state::{Actors, AppState};

/// Registers the completion webhook `url` with CXone ([`api::register_webhook`]) in the
/// background; on failure sub-flows fall back to polling (logged).
pub fn register_callback(handle: &CxoneHandle, url: String) {
    let client = handle.client();
    actix_rt::spawn(async move {
        match api::register_webhook(&client, &url).await {
            Ok(_) => log::info!("component=startup event=webhook_registered url={url}"),
            Err(e) => log::warn!("component=startup event=webhook_registration_failed url={url} error={e}; sub-flows will poll"),
        }
    });
}

/// Options of [`Application::build`] that are not configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildOptions {
    /// Start the embedded sandbox on `sandbox.bind` and point `cxone.base_url` at it.
    pub with_sandbox: bool,
}

/// The running service.
pub struct Application {
    port: u16,
    server: Server,
    actors: Actors,
    sandbox: Option<Sandbox>,
    settings: Arc<Settings>,
    store: Store,
    /// The shared dedupe window's pool (`routing.dedupe = "shared"`).
    window_store: Option<Store>,
    drain: Drain,
    reload: RulesReload,
}

/// Connections of the shared dedupe window's pool: its claim, its write and its cleanup.
const WINDOW_CONNECTIONS: u32 = 3;

/// The webhook signature verifier of `routing.signing_secret(s)`, or `None` when no secret is
/// set (signatures are not checked).
///
/// Errors: a secret gives no key (named by its key, never shown).
fn signature_verifier(settings: &Settings) -> anyhow::Result<Option<Arc<dyn SignatureVerifier>>> {
    let Some(verifier) = StandardWebhooks::from_settings(&settings.routing)? else {
        return Ok(None);
    };
    log::info!(
        "component=startup event=signatures_checked keys={} tolerance_secs={}",
        verifier.key_count(),
        settings.routing.signature_tolerance_secs
    );
    Ok(Some(Arc::new(verifier)))
}

/// Starts the sandbox on `sandbox.bind` and points `cxone.base_url` and the client's rate
/// limit at it.
///
/// Errors: the sandbox cannot bind.
async fn embed_sandbox(settings: &mut Settings) -> anyhow::Result<Sandbox> {
    let sandbox = Sandbox::start(settings.sandbox.options(&settings.cxone))
        .await
        .with_context(|| format!("sandbox.bind: cannot bind {}", settings.sandbox.bind))?;
    settings.cxone.base_url = sandbox.base_url();
    settings.cxone.requests_per_minute = settings.sandbox.rate_limit_per_minute;
    settings.cxone.burst = settings.sandbox.rate_limit_per_minute;
    log::info!(
        "component=startup event=sandbox_started url={}",
        sandbox.base_url()
    );
    Ok(sandbox)
}

/// Starts the supervised actors behind the routes: definitions, deltas, orchestration, the
/// acknowledger and the router (over `kafka`), beside `runtime`'s token, rate limiter and
/// audit. The router takes part in `drain` (its writes to the shared dedupe window), which it
/// keeps in `window_store` with `routing.dedupe = "shared"`.
fn start_actors(
    settings: &Settings,
    runtime: CxoneRuntime,
    kafka: Arc<KafkaConnection>,
    store: &Store,
    window_store: Option<&Store>,
    replica_id: &str,
    drain: &Drain,
) -> Actors {
    let CxoneRuntime {
        handle,
        token,
        limiter,
        audit,
    } = runtime;
    let definitions = {
        let (handle, settings, audit) =
            (handle.clone(), settings.definitions.clone(), audit.clone());
        Supervisor::start(move |_| DefinitionActor::new(handle, settings, Some(audit)))
    };
    let deltas = {
        let (handle, settings, audit) = (handle.clone(), settings.deltas.clone(), audit.clone());
        Supervisor::start(move |_| DeltaBatchActor::new(handle, settings, Some(audit)))
    };
    let durable = DurableRuns {
        reports: SqlRunReports::new(store.clone()),
        completions: SqlCompletions::new(store.clone()),
        owner: replica_id.to_string(),
        lease: Duration::from_secs(settings.orchestration.lease_secs.max(1)),
        keep_settled: settings.orchestration.keep_finished_runs,
    };
    let (runs, completions) = orchestration::start(
        &settings.orchestration,
        &handle,
        Some(&audit),
        Some(durable),
    );
    let acknowledger = {
        let r = &settings.routing;
        let (capacity, concurrency) = (r.ack_queue_capacity, r.ack_concurrency);
        Supervisor::start(move |_| AcknowledgementActor::new(handle, capacity, concurrency))
    };
    let router = {
        let kafka_settings = settings.kafka.clone();
        let window = Duration::from_secs(settings.routing.dedupe_window_secs);
        let capacity = settings.routing.dedupe_capacity;
        let acks = acknowledger.clone().recipient();
        let dead_letter = Route::dead_letter(&settings.routing.dead_letter_topic);
        let shared = window_store.map(|window_store| {
            // A replica that stopped renewing its lease (every third of it) for the longest
            // produce twice over is taken for gone: another may take its unrouted keys.
            let lease = Duration::from_millis(settings.kafka.produce_timeout_ms.saturating_mul(2));
            SharedDedupe::new(window_store.clone(), replica_id.to_string(), window, lease)
        });
        let drain = drain.clone();
        Supervisor::start(move |_| {
            let dedupe = Box::new(MemoryDedupe::new(window, capacity));
            let router = KafkaRouterActor::new(&kafka_settings, kafka, dedupe)
                .with_acknowledger(acks)
                .with_dead_letter(dead_letter)
                .with_drain(drain.clone());
            match shared {
                Some(shared) => router.with_shared_dedupe(shared),
                None => router,
            }
        })
    };
    Actors {
        router,
        acknowledger,
        token,
        limiter,
        audit,
        definitions,
        deltas,
        runs,
        completions,
    }
}

/// Binds the HTTP server on `server.bind` with `server.workers` workers (0: one per core),
/// each with its own router intake; the server and the port it bound.
///
/// Errors: the address cannot be bound.
fn serve(settings: &ServerSettings, state: web::Data<AppState>) -> anyhow::Result<(Server, u16)> {
    let mut server = HttpServer::new(move || {
        let drain = state.drain.clone();
        App::new()
            .app_data(state.clone())
            .app_data(RouterIntake::new(state.actors.router.clone().recipient()))
            .wrap_fn(move |req, service| {
                let answered = service.call(req);
                let drain = drain.clone();
                async move {
                    let mut response = answered.await?;
                    close_while_draining(&drain, &mut response);
                    Ok(response)
                }
            })
            .configure(crate::routes::configure)
    })
    // Signals are the service's own (`crate::shutdown`): a graceful stop starts with a
    // window in which the listener stays open.
    .disable_signals()
    .shutdown_timeout(settings.drain_timeout_secs);
    if settings.workers > 0 {
        server = server.workers(settings.workers);
    }
    let server = server
        .bind(&settings.bind)
        .with_context(|| format!("server.bind: cannot bind {}", settings.bind))?;
    let port = server.addrs().first().map(|a| a.port()).unwrap_or_default();
    log::info!(
        "component=startup event=listening bind={} port={port}",
        settings.bind
    );
    Ok((server.run(), port))
}

/// While the service drains, a response (but a WebSocket upgrade) carries
/// `Connection: close`, and the connection is closed once it is written.
fn close_while_draining<B>(drain: &Drain, response: &mut actix_web::dev::ServiceResponse<B>) {
    if drain.is_draining() && response.status() != actix_web::http::StatusCode::SWITCHING_PROTOCOLS
    {
        response
            .response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
}

impl Application {
    /// Builds everything and binds the HTTP server; the server runs once awaited
    /// ([`Application::run_until_stopped`]).
    ///
    /// Errors: the sandbox or server cannot bind, `cxone.base_url` is missing, the audit log
    /// cannot be opened, the state store cannot be opened or migrated, the rules are invalid, a signing secret gives no key, or Kafka is
    /// unreachable / a rule names a partition its topic lacks — each naming the key or
    /// resource.
    pub async fn build(mut settings: Settings, options: BuildOptions) -> anyhow::Result<Self> {
        // First, so a bad secret or rule stops start-up before anything runs.
        let verifier = signature_verifier(&settings)?;
        let rules = Arc::new(LiveRules::new(settings.rules()?));
        let sandbox = match options.with_sandbox {
            true => Some(embed_sandbox(&mut settings).await?),
            false => None,
        };
        if settings.cxone.base_url.is_empty() {
            anyhow::bail!("cxone.base_url: required (set it, or use --sandbox)");
        }
        let settings = Arc::new(settings);
        let runtime = CxoneRuntime::start(&settings.cxone, &settings.audit)?;
        let store = Store::open(&settings.state.url, settings.state.max_connections)
            .await
            .with_context(|| format!("state.url {}", settings.state.redacted_url()))?;
        if let Some(dir) = &settings.export.checkpoint_dir {
            log::warn!(
                "component=startup event=deprecated key=export.checkpoint_dir value={dir} \
                 reason=\"checkpoints live in the state store (state.url); the key is ignored\""
            );
        }
        let drain = Drain::new();
        let exports = ExportOptions::from_settings(
            &settings.export,
            Arc::new(SqlCheckpointStore::new(store.clone())),
            &runtime.handle,
            Some(&runtime.audit),
        )
        .with_drain(drain.clone());
        let dead_letter = Route::dead_letter(&settings.routing.dead_letter_topic);
        let kafka = Arc::new(
            KafkaConnection::connect(&settings.kafka, &rules.current(), dead_letter.as_ref())
                .await
                .context("kafka: cannot start the router")?,
        );
        let cxone = runtime.handle.clone();
        // This process among the replicas sharing the state store (owner of its dedupe
        // reservations and of its runs).
        let replica_id = uuid::Uuid::new_v4().to_string();
        log::info!("component=startup event=replica replica_id={replica_id}");
        METRICS.rules_in_force(rules.current().version());
        let reload = RulesReload::new(
            settings.clone(),
            rules.clone(),
            kafka.clone(),
            dead_letter.clone(),
        );
        // The shared dedupe window's statements are on the ingest path: their own pool,
        // whose connections are not pinged before each statement (it retries one on a lost
        // connection itself). A claim and a write run at once, and the cleanup.
        let window_store = match settings.routing.dedupe {
            DedupeMode::Shared => Some(
                store
                    .lean(WINDOW_CONNECTIONS)
                    .await
                    .with_context(|| format!("state.url {}", settings.state.redacted_url()))?,
            ),
            DedupeMode::Memory => None,
        };
        let actors = start_actors(
            &settings,
            runtime,
            kafka,
            &store,
            window_store.as_ref(),
            &replica_id,
            &drain,
        );
        let state = web::Data::new(AppState {
            settings: settings.clone(),
            actors: actors.clone(),
            exports,
            verifier,
            rules,
            run_reports: SqlRunReports::new(store.clone()),
            drain: drain.clone(),
        });
        let (server, port) = serve(&settings.server, state)?;
        actix_rt::spawn(crate::routes::webhook::log_unavailable(
            crate::routes::webhook::UNAVAILABLE_LOG_INTERVAL,
        ));
        register_callback(&cxone, settings.callback_url(port));
        Ok(Application {
            port,
            server,
            actors,
            sandbox,
            settings,
            store,
            window_store,
            drain,
            reload,
        })
    }

    /// The state store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The port the HTTP server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The long-lived actors.
    pub fn actors(&self) -> &Actors {
        &self.actors
    }

    /// The settings in force (with `cxone.base_url` pointing at the sandbox when embedded).
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The embedded sandbox's base URL, when it runs.
    pub fn sandbox_url(&self) -> Option<String> {
        self.sandbox.as_ref().map(Sandbox::base_url)
    }

    /// A handle to stop the HTTP server.
    pub fn server_handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// What starts a graceful stop ([`GracefulStop::run`]); the process's signals reach it
    /// through [`crate::shutdown::on_signals`].
    pub fn graceful_stop(&self) -> GracefulStop {
        GracefulStop::new(
            self.drain.clone(),
            self.server.handle(),
            Duration::from_secs(self.settings.server.shutdown_timeout_secs),
        )
    }

    /// What reloads the routing rules (SIGHUP, through [`crate::shutdown::on_signals`]).
    pub fn rules_reload(&self) -> RulesReload {
        self.reload.clone()
    }

    /// Serves until the server stops ([`GracefulStop::run`] or [`ServerHandle::stop`]); then
    /// hands the runs in progress over (their leases end at once: [`ReleaseRuns`]), gives the
    /// router's queue, the acknowledgement queue and the export streams with their checkpoint
    /// writes (and the shared dedupe window's writes) `server.drain_timeout_secs` each (what
    /// is left is logged with its count), flushes the audit log, closes the state store and
    /// stops the sandbox.
    ///
    /// Errors: the server failed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        log::info!("component=startup event=server_stopped");
        let within = Duration::from_secs(self.settings.server.drain_timeout_secs);
        // Runs in flight are handed over at once: their leases end now, so another replica
        // (or this one restarted) resumes them at its next heartbeat.
        match self.actors.runs.send(ReleaseRuns).await {
            Ok(Ok(0)) | Err(_) => {}
            Ok(Ok(n)) => log::info!("component=shutdown event=runs_released count={n}"),
            Ok(Err(e)) => log::warn!(
                "component=shutdown event=runs_release_failed error={e} \
                 reason=\"their leases pass as usual\""
            ),
        }
        // Streams still open (a stop without the graceful sequence) close now.
        self.drain.close_streams();
        let router = crate::shutdown::emptied(&self.actors.router, within);
        let left = router.await;
        if left > 0 {
            log::warn!("component=shutdown event=router_not_drained records={left}");
        }
        let left = crate::shutdown::emptied(&self.actors.acknowledger, within).await;
        if left > 0 {
            log::warn!(
                "component=shutdown event=acknowledgements_left count={left} \
                 reason=\"not delivered within server.drain_timeout_secs; CXone redelivers the events\""
            );
        }
        let left = self.drain.settled(within).await;
        if left > 0 {
            log::warn!("component=shutdown event=streams_not_settled count={left}");
        }
        if let Ok(Err(e)) = self.actors.audit.send(Flush).await {
            log::error!("component=startup event=audit_flush_failed error={e}");
        }
        // Waits for the connections in use (the last checkpoint writes) to be returned.
        self.store.close().await;
        if let Some(window_store) = &self.window_store {
            window_store.close().await;
        }
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
        log::info!("component=shutdown event=stopped");
        result
    }
}
