//! DefinitionActor: validates a definition, assembles its header matrix, and creates it
//! through the CXone client — redirects followed at most `definitions.max_redirects` times,
//! 429 retried after 1 s, 2 s, 4 s (or `Retry-After`) at most `definitions.rate_limit_retries`
//! times — then POSTs a `data_action.created` event to `definitions.callback_url` if set.

use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};

use super::headers::HeaderMatrix;
use super::validate::validate;
use super::webhook;
use crate::audit::{AuditActor, AuditEvent, AuditOutcome};
use crate::cxone::{api, CxoneClient, CxoneError, CxoneHandle};
use crate::lifecycle::Lifecycle;
use crate::problem::FieldProblem;
use crate::settings::DefinitionSettings;

/// Attempts of a callback POST.
pub const CALLBACK_ATTEMPTS: u32 = 3;

/// Creates (or, with `dry_run`, only validates) a definition.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<Created, DefinitionError>")]
pub struct CreateDefinition {
    /// The definition as received.
    pub definition: Value,
    /// The caller's correlation id, used unchanged; `None`: a new UUID.
    pub correlation_id: Option<String>,
    /// Extra headers for this call (beside `definitions.extra_headers`).
    pub extra_headers: Vec<(String, String)>,
    /// Validate and size the header matrix only; send nothing.
    pub dry_run: bool,
}

/// The audit summary returned with a creation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CallSummary {
    /// Correlation id sent.
    pub correlation_id: String,
    /// HTTP status of the final answer.
    pub status: Option<u16>,
    /// Milliseconds, retries and redirects included.
    pub latency_ms: u64,
    /// `succeeded` or `failed`.
    pub outcome: AuditOutcome,
}

/// What [`CreateDefinition`] achieved.
#[derive(Debug, Clone)]
pub enum Created {
    /// Dry run: valid, with the header matrix size.
    DryRun {
        /// The definition.
        definition: Value,
        /// Header matrix bytes (`Authorization` counted with the current token when one
        /// could be had).
        header_matrix_bytes: usize,
        /// Correlation id that would be sent.
        correlation_id: String,
    },
    /// Created: the API's answer and the call's summary.
    Created {
        /// The created definition as the API returned it.
        definition: Value,
        /// The call.
        audit: CallSummary,
    },
}

/// Why a definition was not created.
#[derive(Debug, Clone, derive_more::Display, derive_more::Error)]
pub enum DefinitionError {
    /// Validation failed; nothing was sent.
    #[display("the definition is invalid")]
    Invalid(#[error(not(source))] Vec<FieldProblem>),
    /// The header matrix is over the gateway limit; nothing was sent.
    #[display("the header matrix is {_0} bytes, over the 8192-byte gateway limit")]
    HeaderMatrixTooLarge(#[error(not(source))] usize),
    /// Redirects beyond the limit (a loop): the client's error, shown as it is.
    #[display("{_0}")]
    TooManyRedirects(#[error(not(source))] CxoneError),
    /// 429 after every retry.
    #[display("CXone kept answering 429 after {_0} retries")]
    RateLimited(#[error(not(source))] u32),
    /// CXone answered an error.
    #[display("CXone answered HTTP {status}")]
    Upstream {
        /// HTTP status.
        status: u16,
        /// The API's error body (JSON when it was JSON).
        body: Value,
        /// The call.
        audit: CallSummary,
    },
    /// CXone could not be reached, or no token could be had: the client's error, kept as
    /// the source.
    #[display("CXone unavailable: {_0}")]
    Unavailable(CxoneError),
}

/// Creates definitions. One per process.
pub struct DefinitionActor {
    cxone: CxoneHandle,
    client: CxoneClient,
    /// For the callback.
    http: awc::Client,
    settings: DefinitionSettings,
    audit: Option<Addr<AuditActor>>,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl DefinitionActor {
    /// A definition actor calling CXone through `cxone`.
    pub fn new(
        cxone: CxoneHandle,
        settings: DefinitionSettings,
        audit: Option<Addr<AuditActor>>,
    ) -> Self {
        DefinitionActor {
            client: cxone.client(),
            http: webhook::client(),
            cxone,
            settings,
            audit,
            lifecycle: Lifecycle::new("DefinitionActor"),
        }
    }
}

impl Actor for DefinitionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(256);
        self.lifecycle.started();
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        Running::Stop
    }
}

impl Supervised for DefinitionActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        // A restarted actor gets new clients.
        self.client = self.cxone.client();
        self.http = webhook::client();
        self.lifecycle.restarted();
    }
}

crate::handle_stop_actor!(DefinitionActor);

/// Validates, sizes, and (unless a dry run) creates the definition.
impl Handler<CreateDefinition> for DefinitionActor {
    type Result = ResponseFuture<Result<Created, DefinitionError>>;

    fn handle(&mut self, msg: CreateDefinition, _: &mut Self::Context) -> Self::Result {
        let (client, http) = (self.client.clone(), self.http.clone());
        let settings = self.settings.clone();
        let audit = self.audit.clone();
        Box::pin(create(client, http, settings, audit, msg))
    }
}

async fn create(
    client: CxoneClient,
    http: awc::Client,
    settings: DefinitionSettings,
    audit: Option<Addr<AuditActor>>,
    msg: CreateDefinition,
) -> Result<Created, DefinitionError> {
    let allow_http = settings.allow_http;
    validate(&msg.definition, allow_http).map_err(DefinitionError::Invalid)?;
    let correlation_id = msg
        .correlation_id
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut extra: Vec<(String, String)> = settings.extra_headers.clone().into_iter().collect();
    extra.extend(msg.extra_headers);
    let token = match client.handle().token().await {
        Ok(Ok(t)) => Some(t),
        Ok(Err(e)) if msg.dry_run => {
            log::warn!("actor=DefinitionActor event=dry_run_without_token error={e}");
            None
        }
        Ok(Err(e)) => return Err(DefinitionError::Unavailable(CxoneError::Token(e))),
        Err(e) => return Err(DefinitionError::Unavailable(CxoneError::Mailbox(e))),
    };
    let matrix = HeaderMatrix::build(&correlation_id, token.as_ref().map(|t| t.secret()), &extra)
        .map_err(DefinitionError::Invalid)?;
    if !matrix.fits() {
        return Err(DefinitionError::HeaderMatrixTooLarge(matrix.size()));
    }
    if msg.dry_run {
        return Ok(Created::DryRun {
            definition: msg.definition,
            header_matrix_bytes: matrix.size(),
            correlation_id,
        });
    }
    // A JSON value always serialises; were it not to, the definition is what is at fault.
    let body = serde_json::to_vec(&msg.definition).map_err(|e| {
        DefinitionError::Invalid(vec![FieldProblem::new("definition", e.to_string())])
    })?;
    let name = msg.definition["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let headers = matrix.extra_for_client();
    let started = Instant::now();
    let result = api::create_definition(
        &client,
        &settings,
        name,
        correlation_id.clone(),
        body,
        headers,
    )
    .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let summary = |status: Option<u16>, outcome| CallSummary {
        correlation_id: correlation_id.clone(),
        status,
        latency_ms,
        outcome,
    };
    let outcome = match result {
        Ok(resp) => {
            let definition = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            Ok(Created::Created {
                definition,
                audit: summary(Some(resp.status), AuditOutcome::Succeeded),
            })
        }
        Err(e @ CxoneError::TooManyRedirects { .. }) => Err(DefinitionError::TooManyRedirects(e)),
        Err(CxoneError::Status { status: 429, .. }) => {
            Err(DefinitionError::RateLimited(settings.rate_limit_retries))
        }
        Err(CxoneError::Status { status, body }) => Err(DefinitionError::Upstream {
            status,
            body: serde_json::from_str(&body).unwrap_or(Value::String(body)),
            audit: summary(Some(status), AuditOutcome::Failed),
        }),
        Err(e) => Err(DefinitionError::Unavailable(e)),
    };
    if !settings.callback_url.is_empty() {
        let (status, id) = match &outcome {
            Ok(Created::Created { definition, audit }) => {
                (audit.status, definition.get("id").cloned())
            }
            Err(DefinitionError::Upstream { status, .. }) => (Some(*status), None),
            _ => (None, None),
        };
        let event = json!({
            "event": "data_action.created",
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "status": status,
            "latency_ms": latency_ms,
            "correlation_id": correlation_id,
            "id": id,
        });
        actix_rt::spawn(post_callback(
            http,
            settings.callback_url.clone(),
            event,
            audit,
        ));
    }
    outcome
}

/// POSTs the `data_action.created` event, retried; the outcome is audited, a failure logged.
async fn post_callback(
    http: awc::Client,
    url: String,
    event: Value,
    audit: Option<Addr<AuditActor>>,
) {
    let correlation_id = event["correlation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let started = Instant::now();
    let posted = webhook::post(&http, &url, &event, CALLBACK_ATTEMPTS, |attempt| {
        Duration::from_millis(200 << attempt)
    })
    .await;
    let last = match posted.last {
        Ok(status) if status.is_success() => (Some(status.as_u16()), None),
        Ok(status) => (Some(status.as_u16()), Some(format!("HTTP {status}"))),
        Err(e) => (None, Some(e)),
    };
    let mut record = AuditEvent::now(
        "DefinitionActor",
        "definition_callback",
        correlation_id,
        url,
    );
    record.http_status = last.0;
    record.latency_ms = started.elapsed().as_millis() as u64;
    if let Some(error) = last.1 {
        log::warn!("actor=DefinitionActor event=callback_failed error={error}");
        record.outcome = AuditOutcome::Failed;
        record.error = Some(error);
    }
    if let Some(audit) = audit {
        audit.do_send(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_cxone_keeps_the_clients_error_as_its_source() {
        let e = DefinitionError::Unavailable(CxoneError::Mailbox(MailboxError::Closed));
        assert_eq!(
            e.to_string(),
            format!(
                "CXone unavailable: {}",
                CxoneError::Mailbox(MailboxError::Closed)
            )
        );
        let source = std::error::Error::source(&e).expect("the client's error");
        assert!(source.downcast_ref::<CxoneError>().is_some());
    }
}
