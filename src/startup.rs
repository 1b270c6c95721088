//! Start-up wiring: `Application::build(settings)` starts the sandbox (when asked), the
//! supervised actors, connects to Kafka (creating topics, checking partitions), and binds the
//! HTTP server (port 0 in tests); `port()` tells where it listens.

use std::sync::Arc;
use std::time::Duration;

use actix::prelude::*;
use actix_web::dev::{Server, ServerHandle};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use switchboard_actors::cxone::{api, CxoneRuntime};
use switchboard_actors::definitions::DefinitionActor;
use switchboard_actors::deltas::DeltaBatchActor;
use switchboard_actors::exports::{ExportOptions, FileCheckpointStore};
use switchboard_actors::orchestration::{
    CompletionRouter, MemoryRunStore, RunContext, RunsActor, Timing,
};
use switchboard_actors::router::{MemoryDedupe, RouterIntake};
use switchboard_actors::{
    AcknowledgementActor, AuditActor, CxoneHandle, Flush, KafkaConnection, KafkaRouterActor,
    RuleSet,
};
use switchboard_sandbox::{Sandbox, SandboxOptions};

use crate::config::{Settings, DEFAULT_ROUTES, DEFAULT_ROUTES_PATH};
use crate::signature::{SignatureVerifier, StandardWebhooks};
use crate::state::{Actors, AppState};

/// What export streams share: checkpoints under `export.checkpoint_dir`, the optional sink,
/// heartbeat and client timeout.
///
/// Errors: the checkpoint directory cannot be created.
pub fn export_options(
    settings: &Settings,
    handle: &CxoneHandle,
    audit: &Addr<AuditActor>,
) -> anyhow::Result<ExportOptions> {
    let e = &settings.export;
    let store = FileCheckpointStore::new(&e.checkpoint_dir)
        .with_context(|| format!("export.checkpoint_dir: cannot create {}", e.checkpoint_dir))?;
    Ok(ExportOptions {
        cxone: handle.clone(),
        store: Arc::new(store),
        sink_dir: (!e.sink_dir.is_empty()).then(|| e.sink_dir.clone().into()),
        heartbeat: std::time::Duration::from_secs(e.heartbeat_interval_secs),
        client_timeout: std::time::Duration::from_secs(e.client_timeout_secs),
        audit: Some(audit.clone()),
    })
}

/// Polling and timeout of sub-flow executions, from the settings.
pub fn execution_timing(settings: &Settings) -> Timing {
    let o = &settings.orchestration;
    Timing {
        poll_after: std::time::Duration::from_millis(o.poll_after_ms),
        poll_interval: std::time::Duration::from_millis(o.poll_interval_ms),
        timeout: std::time::Duration::from_secs(o.execution_timeout_secs),
    }
}

/// Starts the supervised completion router and runs registry.
pub fn start_orchestration(
    settings: &Settings,
    handle: &CxoneHandle,
    audit: &Addr<AuditActor>,
) -> (Addr<RunsActor>, Addr<CompletionRouter>) {
    let completions = Supervisor::start(|_| CompletionRouter::default());
    let timing = execution_timing(settings);
    let keep = settings.orchestration.keep_finished_runs;
    let (handle, router, audit) = (handle.clone(), completions.clone(), audit.clone());
    let runs = Supervisor::start(move |_| {
        RunsActor::new(
            move |settled| RunContext {
                cxone: handle.clone(),
                router: router.clone(),
                settled,
                audit: Some(audit.clone()),
                timing,
            },
            Box::new(MemoryRunStore::new(keep)),
        )
    });
    (runs, completions)
}

/// The completion webhook URL: `orchestration.callback_url`, or `http://<bind host>:<bound
/// port>/cxone/webhook`.
pub fn callback_url(settings: &Settings, port: u16) -> String {
    if !settings.orchestration.callback_url.is_empty() {
        return settings.orchestration.callback_url.clone();
    }
    let host = settings
        .server
        .bind
        .rsplit_once(':')
        .map_or("127.0.0.1", |(h, _)| h);
    format!("http://{host}:{port}/cxone/webhook")
}

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
}

/// The sandbox options that match the settings: it accepts the configured client
/// credentials, so the service's defaults work against it.
pub fn sandbox_options(settings: &Settings) -> SandboxOptions {
    SandboxOptions {
        bind: settings.sandbox.bind.clone(),
        client_id: settings.cxone.client_id.clone(),
        client_secret: settings.cxone.client_secret.clone(),
        token_ttl_secs: settings.sandbox.token_ttl_secs,
        rate_limit_per_minute: settings.sandbox.rate_limit_per_minute,
    }
}

/// Reads and compiles the routing rules; the default path falls back to the built-in rules.
///
/// Errors: the file cannot be read, or a rule is invalid (named by index and key).
pub fn load_rules(path: &str) -> anyhow::Result<RuleSet> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && path == DEFAULT_ROUTES_PATH => {
            log::info!("component=startup event=builtin_rules reason=\"{path} not found\"");
            DEFAULT_ROUTES.to_string()
        }
        Err(e) => return Err(e).with_context(|| format!("routing.rules_file: cannot read {path}")),
    };
    RuleSet::from_toml(&text).with_context(|| format!("routing.rules_file: {path}"))
}

impl Application {
    /// Builds everything and binds the HTTP server; the server runs once awaited
    /// ([`Application::run_until_stopped`]).
    ///
    /// Errors: the sandbox or server cannot bind, `cxone.base_url` is missing, the audit log
    /// cannot be opened, the rules are invalid, a signing secret gives no key, or Kafka is
    /// unreachable / a rule names a partition its topic lacks — each naming the key or
    /// resource.
    pub async fn build(mut settings: Settings, options: BuildOptions) -> anyhow::Result<Self> {
        // First, so a bad secret stops start-up before anything runs.
        let verifier: Option<Arc<dyn SignatureVerifier>> =
            match StandardWebhooks::from_settings(&settings.routing)? {
                Some(verifier) => {
                    log::info!(
                        "component=startup event=signatures_checked keys={} tolerance_secs={}",
                        verifier.key_count(),
                        settings.routing.signature_tolerance_secs
                    );
                    Some(Arc::new(verifier))
                }
                None => None,
            };
        let sandbox = if options.with_sandbox {
            let sandbox = Sandbox::start(sandbox_options(&settings))
                .await
                .with_context(|| format!("sandbox.bind: cannot bind {}", settings.sandbox.bind))?;
            settings.cxone.base_url = sandbox.base_url();
            settings.cxone.requests_per_minute = settings.sandbox.rate_limit_per_minute;
            settings.cxone.burst = settings.sandbox.rate_limit_per_minute;
            log::info!(
                "component=startup event=sandbox_started url={}",
                sandbox.base_url()
            );
            Some(sandbox)
        } else {
            None
        };
        if settings.cxone.base_url.is_empty() {
            anyhow::bail!("cxone.base_url: required (set it, or use --sandbox)");
        }
        let settings = Arc::new(settings);
        let CxoneRuntime {
            handle,
            token,
            limiter,
            audit,
        } = CxoneRuntime::start(&settings.cxone, &settings.audit)?;
        let definitions = {
            let (handle, settings, audit) =
                (handle.clone(), settings.definitions.clone(), audit.clone());
            Supervisor::start(move |_| DefinitionActor::new(handle, settings, Some(audit)))
        };
        let deltas = {
            let (handle, settings, audit) =
                (handle.clone(), settings.deltas.clone(), audit.clone());
            Supervisor::start(move |_| DeltaBatchActor::new(handle, settings, Some(audit)))
        };
        let (runs, completions) = start_orchestration(&settings, &handle, &audit);
        let actors_handle = handle.clone(); // for the callback registration after binding
        let exports = export_options(&settings, &handle, &audit)?;
        let rules = Arc::new(load_rules(&settings.routing.rules_file)?);
        let kafka = Arc::new(
            KafkaConnection::connect(&settings.kafka, &rules)
                .await
                .context("kafka: cannot start the router")?,
        );
        let acknowledger = {
            let (capacity, concurrency) = (
                settings.routing.ack_queue_capacity,
                settings.routing.ack_concurrency,
            );
            Supervisor::start(move |_| AcknowledgementActor::new(handle, capacity, concurrency))
        };
        let router = {
            let (settings, kafka) = (settings.clone(), kafka.clone());
            let window = Duration::from_secs(settings.routing.dedupe_window_secs);
            let capacity = settings.routing.dedupe_capacity;
            let acks = acknowledger.clone().recipient();
            Supervisor::start(move |_| {
                KafkaRouterActor::new(
                    &settings.kafka,
                    kafka,
                    Box::new(MemoryDedupe::new(window, capacity)),
                )
                .with_acknowledger(acks)
            })
        };
        let actors = Actors {
            router,
            acknowledger,
            token,
            limiter,
            audit,
            definitions,
            deltas,
            runs,
            completions,
        };

        let state = web::Data::new(AppState {
            settings: settings.clone(),
            actors: actors.clone(),
            exports,
            verifier,
            rules,
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(RouterIntake::new(state.actors.router.clone().recipient()))
                .configure(crate::routes::configure)
        })
        .shutdown_timeout(10);
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server
            .bind(&settings.server.bind)
            .with_context(|| format!("server.bind: cannot bind {}", settings.server.bind))?;
        let port = server.addrs().first().map(|a| a.port()).unwrap_or_default();
        log::info!(
            "component=startup event=listening bind={} port={port}",
            settings.server.bind
        );
        register_callback(&actors_handle, callback_url(&settings, port));
        Ok(Application {
            port,
            server: server.run(),
            actors,
            sandbox,
            settings,
        })
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

    /// Serves until the server stops (SIGINT/SIGTERM or [`ServerHandle::stop`]), then flushes
    /// the audit log and stops the sandbox.
    ///
    /// Errors: the server failed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        log::info!("component=startup event=server_stopped");
        if let Ok(Err(e)) = self.actors.audit.send(Flush).await {
            log::error!("component=startup event=audit_flush_failed error={e}");
        }
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
        result
    }
}
