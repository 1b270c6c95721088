//! The CXone API as switchboard uses it: one function per call, and the only place a path of
//! `[cxone.paths]` is named. Each function builds its [`ApiCall`] — operation name (the
//! `operation` of audit records and of the `switchboard_cxone_calls_total` metric), method,
//! path with its parameters URL-escaped ([`CxoneHandle::path`]), target id, headers, body and
//! retry policy — and sends it through the [`CxoneClient`] (rate slot, token, retries,
//! audit); the caller reads the answer. The token request is the exception: the
//! [`TokenActor`](super::token::TokenActor) sends it over its own HTTP client, since the
//! client needs a token to call anything.
//!
//! Every call (the API profile of the architecture notes; paths are the defaults of
//! `config/default.toml`):
//!
//! | function | operation | method | `cxone.paths.*` | default path | called by |
//! |---|---|---|---|---|---|
//! | [`request_token`] | — (not audited) | POST | `token` | `/oauth/token` (form-encoded) | `TokenActor` |
//! | [`start_execution`] | `execute_sub_flow` | POST | `execute` | `/api/v1/data-actions/{id}/executions` | `SubFlowActor` |
//! | [`execution_status`] | `execution_status` | GET | `execution_status` | `/api/v1/executions/{execution_id}` | `SubFlowActor` (poll fallback) |
//! | [`register_webhook`] | `register_webhook` | POST | `register_webhook` | `/api/v1/webhooks` | the service at start-up |
//! | [`apply_delta_batch`] | `delta_batch` | PATCH | `delta_records` | `/api/v2/dataactions/records` | `DeltaBatchActor` |
//! | [`create_definition`] | `create_definition` | POST | `create_definition` | `/api/v2/data-actions` | `DefinitionActor` |
//! | [`start_export`] | `start_export` | POST | `start_export` | `/api/v2/data-actions/exports` | `ExportStreamActor` |
//! | [`export_records`] | `export_records` | GET | `export_records` | `/api/v2/data-actions/exports/{id}/records?limit=&offset=` | `ExportStreamActor` |
//! | [`acknowledge`] | `acknowledge` | POST | `acknowledge` | `/api/v2/data/actions/{id}/acknowledge` | `AcknowledgementActor` |
//!
//! Errors of every function but [`request_token`] are those of [`CxoneClient::send`]: a
//! non-2xx final answer is [`CxoneError::Status`] with its body.

use std::time::Duration;

use awc::http::Method;
use base64::Engine;
use serde_json::{json, Value};

use super::client::{ApiCall, ApiResponse, CxoneClient, CxoneHandle};
use super::error::{CxoneError, TransportCause};
use super::retry::{self, RetryPolicy};
use crate::settings::{CxoneSettings, DefinitionSettings, GrantType};

/// Events a registered completion webhook asks for.
pub const WEBHOOK_EVENTS: [&str; 2] = ["execution.completed", "execution.failed"];

/// Largest token endpoint answer read, in bytes; a longer or unreadable body is read as
/// empty.
pub const MAX_TOKEN_BODY_BYTES: usize = 64 * 1024;

/// `POST {token}`: one token request for the grant of `settings` (`cxone.grant_type`).
///
/// `client_credentials` sends the client id and secret in the form-encoded, URL-escaped body;
/// `password` sends the access key id/secret as username/password and the client
/// credentials as HTTP Basic, each part URL-escaped first (RFC 6749 §2.3.1). Both ask for
/// `cxone.scopes`, space-separated. Sent once, over `http`, without token or rate slot; the
/// [`TokenActor`](super::token::TokenActor) retries it.
///
/// Errors: awc could not send the request or read the answer's head (any status is an
/// answer): its failure, with awc's whole text.
pub async fn request_token(
    http: &awc::Client,
    settings: &CxoneSettings,
) -> Result<TokenAnswer, TransportCause> {
    let url = format!("{}{}", settings.base_url, settings.paths.token);
    let (form, basic) = token_form(settings);
    let mut req = http
        .post(&url)
        .insert_header(("Accept", "application/json"));
    if let Some(basic) = &basic {
        req = req.insert_header(("Authorization", basic.as_str()));
    }
    let mut resp = req
        .send_form(&form)
        .await
        .map_err(|e| TransportCause::from_send(e, usize::MAX))?;
    let status = resp.status().as_u16();
    let body = resp
        .body()
        .limit(MAX_TOKEN_BODY_BYTES)
        .await
        .unwrap_or_default();
    Ok(TokenAnswer {
        status,
        retry_after: retry::retry_after(resp.headers()),
        body: body.to_vec(),
    })
}

/// The token endpoint's answer, whatever its status.
#[derive(Debug, Clone)]
pub struct TokenAnswer {
    /// HTTP status.
    pub status: u16,
    /// Its `Retry-After` ([`retry::retry_after`]).
    pub retry_after: Option<Duration>,
    /// Body bytes, at most [`MAX_TOKEN_BODY_BYTES`] (empty when longer or unreadable).
    pub body: Vec<u8>,
}

/// The form of the token request and its `Authorization` header (the `password` grant's HTTP
/// Basic client authentication).
fn token_form(s: &CxoneSettings) -> (Vec<(&'static str, String)>, Option<String>) {
    let scope = s.scopes.join(" ");
    match s.grant_type {
        GrantType::ClientCredentials => (
            vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", s.client_id.clone()),
                ("client_secret", s.client_secret.clone()),
                ("scope", scope),
            ],
            None,
        ),
        GrantType::Password => {
            let enc = |v: &str| {
                serde_urlencoded::to_string([("", v)]).unwrap_or_default()[1..].to_string()
            };
            let pair = format!("{}:{}", enc(&s.client_id), enc(&s.client_secret));
            (
                vec![
                    ("grant_type", "password".to_string()),
                    ("username", s.access_key_id.clone()),
                    ("password", s.access_key_secret.clone()),
                    ("scope", scope),
                ],
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )),
            )
        }
    }
}

/// `POST {execute}`: starts an execution of sub-flow (Data Action) `data_action_id` with
/// body `{"input": input}`, correlated by the run (`run_id` as `X-Correlation-ID`), with the
/// `Idempotency-Key` of [`execution_idempotency_key`].
///
/// The answer (202) names the execution in its body (`{"execution_id"}`) or `Location`.
pub async fn start_execution(
    client: &CxoneClient,
    data_action_id: &str,
    run_id: &str,
    input: &Value,
) -> Result<ApiResponse, CxoneError> {
    let path = CxoneHandle::path(
        &client.handle().settings().paths.execute,
        &[("id", data_action_id)],
    );
    let mut call = ApiCall::new("execute_sub_flow", Method::POST, path, data_action_id);
    call.correlation_id = run_id.to_string();
    call.json = serde_json::to_vec(&json!({ "input": input })).ok();
    call.headers.push((
        "Idempotency-Key".to_string(),
        execution_idempotency_key(run_id, data_action_id),
    ));
    client.send(&call).await
}

/// The `Idempotency-Key` of the execution of sub-flow `sub_flow_id` in run `run_id`:
/// `{run_id}:{sub_flow_id}`, so a POST repeated (after a crash, or by the client's retries)
/// returns the same execution instead of starting a second one.
pub fn execution_idempotency_key(run_id: &str, sub_flow_id: &str) -> String {
    format!("{run_id}:{sub_flow_id}")
}

/// `GET {execution_status}`: the status of execution `execution_id` of run `run_id` (the
/// poll fallback when no completion webhook came); the body is `{"status", ...}`.
pub async fn execution_status(
    client: &CxoneClient,
    execution_id: &str,
    run_id: &str,
) -> Result<ApiResponse, CxoneError> {
    let path = CxoneHandle::path(
        &client.handle().settings().paths.execution_status,
        &[("execution_id", execution_id)],
    );
    let mut call = ApiCall::new("execution_status", Method::GET, path, execution_id);
    call.correlation_id = run_id.to_string();
    client.send(&call).await
}

/// `POST {register_webhook}`: registers `url` for completion callbacks, body
/// `{"url", "events": WEBHOOK_EVENTS}`.
pub async fn register_webhook(client: &CxoneClient, url: &str) -> Result<ApiResponse, CxoneError> {
    let path = client.handle().settings().paths.register_webhook.clone();
    let mut call = ApiCall::new("register_webhook", Method::POST, path, url);
    call.json = serde_json::to_vec(&json!({"url": url, "events": WEBHOOK_EVENTS})).ok();
    client.send(&call).await
}

/// `PATCH {delta_records}`: applies one delta batch of data store `data_store_id` (the
/// target id): `body` is the batch's JSON payload, `checksum` its lowercase SHA-256 hex, sent
/// as `X-Payload-Checksum` and as `Idempotency-Key` (a retried batch is not applied twice),
/// with `If-Match: *` and `X-CXone-Version-Stamp: true`.
///
/// The answer (and a 409's body) is `{"applied", "skipped", "conflicts", "not_found",
/// "versions", "checksum"}`.
pub async fn apply_delta_batch(
    client: &CxoneClient,
    data_store_id: &str,
    checksum: &str,
    body: Vec<u8>,
) -> Result<ApiResponse, CxoneError> {
    let path = client.handle().settings().paths.delta_records.clone();
    let mut call = ApiCall::new("delta_batch", Method::PATCH, path, data_store_id);
    call.headers = vec![
        ("X-Payload-Checksum".into(), checksum.to_string()),
        ("Idempotency-Key".into(), checksum.to_string()),
        ("If-Match".into(), "*".into()),
        ("X-CXone-Version-Stamp".into(), "true".into()),
    ];
    call.json = Some(body);
    client.send(&call).await
}

/// `POST {create_definition}`: creates a definition named `name` (the target id); `body` is
/// its JSON, `headers` the header matrix's headers other than those the client sets, sent
/// under `correlation_id`. Redirects are followed at most `definitions.max_redirects` times
/// (then [`CxoneError::TooManyRedirects`]); a 429 (or 5xx, or transport error) is retried at
/// most `definitions.rate_limit_retries` times after 1 s, 2 s, 4 s, … up to 60 s, without
/// jitter, or after `Retry-After` when given.
///
/// The answer's body is the created definition.
pub async fn create_definition(
    client: &CxoneClient,
    settings: &DefinitionSettings,
    name: String,
    correlation_id: String,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
) -> Result<ApiResponse, CxoneError> {
    let path = client.handle().settings().paths.create_definition.clone();
    let mut call = ApiCall::new("create_definition", Method::POST, path, name);
    call.correlation_id = correlation_id;
    call.json = Some(body);
    call.headers = headers;
    call.max_redirects = settings.max_redirects;
    call.retry = Some(RetryPolicy {
        max_attempts: settings.rate_limit_retries + 1,
        initial: Duration::from_secs(1),
        max: Duration::from_secs(60),
        jitter: false,
    });
    client.send(&call).await
}

/// `POST {start_export}`: starts an export job of report `report_id`, body
/// `{"report_id", "format": "json"}`; the answer's body is `{"id"}`, the job id.
pub async fn start_export(
    client: &CxoneClient,
    report_id: &str,
) -> Result<ApiResponse, CxoneError> {
    let path = client.handle().settings().paths.start_export.clone();
    let mut call = ApiCall::new("start_export", Method::POST, path, report_id);
    call.json = serde_json::to_vec(&json!({"report_id": report_id, "format": "json"})).ok();
    client.send(&call).await
}

/// `GET {export_records}?limit=&offset=`: at most `limit` records of export job `job_id`
/// from record `offset` (counted from 0); the body is a JSON array, empty past the end.
pub async fn export_records(
    client: &CxoneClient,
    job_id: &str,
    limit: usize,
    offset: u64,
) -> Result<ApiResponse, CxoneError> {
    let path = format!(
        "{}?limit={limit}&offset={offset}",
        CxoneHandle::path(
            &client.handle().settings().paths.export_records,
            &[("id", job_id)]
        )
    );
    let call = ApiCall::new("export_records", Method::GET, path, job_id);
    client.send(&call).await
}

/// `POST {acknowledge}`: acknowledges the Data Action event `data_action_id`. A 200 is the
/// acknowledgement; a 409 ([`CxoneError::Status`]) means it was already acknowledged.
pub async fn acknowledge(
    client: &CxoneClient,
    data_action_id: &str,
) -> Result<ApiResponse, CxoneError> {
    let path = CxoneHandle::path(
        &client.handle().settings().paths.acknowledge,
        &[("id", data_action_id)],
    );
    let call = ApiCall::new("acknowledge", Method::POST, path, data_action_id);
    client.send(&call).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(grant_type: GrantType) -> CxoneSettings {
        let mut s = super::super::tests::default_settings();
        s.grant_type = grant_type;
        s.client_id = "id:1".into();
        s.client_secret = "s&2".into();
        s.access_key_id = "key".into();
        s.access_key_secret = "secret".into();
        s.scopes = vec!["a".into(), "b".into()];
        s
    }

    #[test]
    fn client_credentials_go_in_the_form_and_password_grants_use_basic_auth() {
        let (form, basic) = token_form(&settings(GrantType::ClientCredentials));
        assert_eq!(
            serde_urlencoded::to_string(&form).expect("form"),
            "grant_type=client_credentials&client_id=id%3A1&client_secret=s%262&scope=a+b"
        );
        assert_eq!(basic, None);

        let (form, basic) = token_form(&settings(GrantType::Password));
        assert_eq!(
            serde_urlencoded::to_string(&form).expect("form"),
            "grant_type=password&username=key&password=secret&scope=a+b"
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode("id%3A1:s%262");
        assert_eq!(basic, Some(format!("Basic {encoded}")));
    }
}
