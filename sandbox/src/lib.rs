//! The CXone emulator: an in-memory actix-web server implementing the CXone API profile
//! (ARCHITECTURE.md, "CXone API profile" and "Sandbox") for tests and demos;
//! `switchboard serve --sandbox` embeds it. It depends on nothing of the product: its wire
//! types, checksum, definition rules and webhook signing are its own, written from the API
//! profile and the seeds, so a mistake in the service is not mirrored here.
//!
//! - [`options`]: start-up options and default credentials;
//! - [`state`]: the shared in-memory state and what `GET /sandbox/state` shows;
//! - [`faults`]: run-time settings changed through `POST /sandbox/faults`;
//! - [`auth`]: `POST /oauth/token` and the bearer check;
//! - [`limits`]: admission of API calls (auth → per-tenant token bucket → `throttle_rate`
//!   → `error_rate` → `latency_ms`);
//! - [`acknowledge`]: `POST /api/v2/data/actions/{id}/acknowledge`;
//! - [`deltas`] (with [`delta_request`], [`checksum`], [`datastore`], [`idempotency`]):
//!   `PATCH /api/v2/dataactions/records`, and `GET`/`POST /sandbox/datastores/{id}`;
//! - [`definitions`] (with [`definition_rules`]): `POST /api/v2/data-actions` and the
//!   `redirect_loop` fault;
//! - [`webhooks`]: `POST`/`GET /api/v1/webhooks`, completion-webhook registration;
//! - [`executions`] (with [`execution_log`], [`completion`]):
//!   `POST /api/v1/data-actions/{id}/executions`, `GET /api/v1/executions/{execution_id}`,
//!   and the completion webhooks sent when an execution ends;
//! - [`exports`] (with [`reports`]): `POST /api/v2/data-actions/exports`,
//!   `GET /api/v2/data-actions/exports/{id}/records`, and `POST /sandbox/reports`;
//! - [`body`]: reading a request body with a size limit;
//! - [`admin`]: `/sandbox/faults`, `/sandbox/state`, `/sandbox/reset`, `/sandbox/revoke-tokens`;
//! - [`events`], [`emit`] (with [`signing`]): `POST /sandbox/emit`, CXone-style webhook
//!   events signed as Standard Webhooks;
//! - [`error`] (with [`problem`]): the JSON error contract `{"error": "<code>", "message":
//!   "<text>"}` (plus `details` for `invalid_definition`).
//!
//! Every token-endpoint and API request (not `/sandbox/*`) is counted in `requests` under
//! `"METHOD path-template status"`, including 401/429/503 answers.

pub mod acknowledge;
pub mod admin;
pub mod auth;
pub mod body;
pub mod checksum;
pub mod completion;
pub mod datastore;
pub mod definition_rules;
pub mod definitions;
pub mod delta_request;
pub mod deltas;
pub mod emit;
pub mod error;
pub mod events;
pub mod execution_log;
pub mod executions;
pub mod exports;
pub mod faults;
pub mod idempotency;
pub mod limits;
pub mod options;
pub mod problem;
pub mod reports;
pub mod signing;
pub mod state;
pub mod webhooks;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use actix_web::dev::{ServerHandle, Service as _};
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

pub use error::ApiError;
pub use faults::Faults;
pub use options::{SandboxOptions, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET};
pub use state::Records;

use state::Shared;

/// Seconds a stopping sandbox waits for in-flight requests (an emit run may be one).
const SHUTDOWN_TIMEOUT_SECS: u64 = 5;

/// A running sandbox server. Dropping it leaves the server running until its actix system
/// stops; call [`Sandbox::stop`] to stop it.
#[derive(Debug)]
pub struct Sandbox {
    port: u16,
    handle: ServerHandle,
    task: actix_rt::task::JoinHandle<std::io::Result<()>>,
}

impl Sandbox {
    /// Binds `options.bind` and starts the server (one worker) in the current actix system;
    /// the server runs on a spawned task, so this returns at once. OS signals are not
    /// handled: the owner stops it with [`Sandbox::stop`].
    ///
    /// Errors: the bind error (address in use, bad address), or `AddrNotAvailable` when the
    /// server reports no bound address.
    pub async fn start(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let bind = options.bind.clone();
        let shared = Arc::new(Shared::new(options));
        let server = HttpServer::new(move || {
            let counted = shared.clone();
            App::new()
                .app_data(web::Data::from(shared.clone()))
                .app_data(web::Data::new(completion::WebhookClient::new()))
                .wrap_fn(move |req, srv| {
                    let shared = counted.clone();
                    let response = srv.call(req);
                    async move {
                        let response = response.await?;
                        count_request(&shared, response.request(), response.status().as_u16());
                        Ok(response)
                    }
                })
                .configure(routes)
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .bind(&bind)?;
        let port = server
            .addrs()
            .first()
            .map(|addr| addr.port())
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::AddrNotAvailable,
                    format!("sandbox bound no address for {bind}"),
                )
            })?;
        let server = server.run();
        let handle = server.handle();
        let task = actix_rt::spawn(server);
        log::info!("component=sandbox event=started port={port}; CXone sandbox listening");
        Ok(Sandbox { port, handle, task })
    }

    /// The bound port (the real one when `bind` asked for port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The base URL of the sandbox: `http://127.0.0.1:{port}`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server gracefully: in-flight requests get up to 5 s to finish.
    pub async fn stop(self) {
        self.handle.stop(true).await;
        if let Ok(Err(error)) = self.task.await {
            log::warn!("component=sandbox event=stopped error={error}; sandbox server failed");
        }
        log::info!(
            "component=sandbox event=stopped port={}; CXone sandbox stopped",
            self.port
        );
    }
}

/// Registers every sandbox route; a known path with another method answers 405.
fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/oauth/token").route(web::post().to(auth::issue_token)))
        .service(
            resource(acknowledge::ACKNOWLEDGE_PATH).route(web::post().to(acknowledge::acknowledge)),
        )
        .service(resource(deltas::DELTA_PATH).route(web::patch().to(deltas::apply_records)))
        .service(
            resource(webhooks::WEBHOOKS_PATH)
                .route(web::post().to(webhooks::register_webhook))
                .route(web::get().to(webhooks::list_webhooks)),
        )
        .service(
            resource(executions::EXECUTE_PATH).route(web::post().to(executions::start_execution)),
        )
        .service(
            resource(executions::EXECUTION_PATH).route(web::get().to(executions::get_execution)),
        )
        .service(
            web::resource(definitions::DEFINITIONS_PATH)
                .route(web::post().to(definitions::create_definition))
                .default_service(web::to(definitions::other_method)),
        )
        .service(resource(exports::EXPORTS_PATH).route(web::post().to(exports::start_export)))
        .service(
            resource(exports::EXPORT_RECORDS_PATH).route(web::get().to(exports::export_records)),
        )
        .service(resource("/sandbox/reports").route(web::post().to(reports::register_report)))
        .service(
            resource("/sandbox/datastores/{id}")
                .route(web::get().to(datastore::get_datastore))
                .route(web::post().to(datastore::replace_datastore)),
        )
        .service(
            resource("/sandbox/faults")
                .route(web::get().to(admin::get_faults))
                .route(web::post().to(admin::set_faults)),
        )
        .service(resource("/sandbox/state").route(web::get().to(admin::get_state)))
        .service(resource("/sandbox/reset").route(web::post().to(admin::reset)))
        .service(resource("/sandbox/revoke-tokens").route(web::post().to(admin::revoke_tokens)))
        .service(resource("/sandbox/emit").route(web::post().to(emit::emit)))
        .default_service(web::to(not_found));
}

/// A resource whose unmatched methods answer 405 `method_not_allowed`.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

/// Any unknown route: 404 `not_found`.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

/// A known route with another method: 405 `method_not_allowed`.
async fn method_not_allowed(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed(format!(
        "{} {}",
        req.method(),
        req.path()
    )))
}

/// Counts an answered request unless it is an admin call. Unknown routes are counted under
/// their literal path.
fn count_request(shared: &Shared, req: &HttpRequest, status: u16) {
    let path = req.path();
    if path == "/sandbox" || path.starts_with("/sandbox/") {
        return;
    }
    let template = req.match_pattern().unwrap_or_else(|| path.to_owned());
    shared
        .lock()
        .record_request(req.method().as_str(), &template, status);
}
