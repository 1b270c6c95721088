//! The CXone client: the one place that calls the CXone API. Per call it takes a slot from
//! the tenant's rate limit and a token — both owned by their actors ([`RateLimiterActor`],
//! [`TokenActor`](super::token::TokenActor)) and read directly from the state they share, so a call with a slot and a
//! valid token sends no message — sends a correlation id,
//! retries 429/5xx/transport errors with exponential backoff and jitter (honouring
//! `Retry-After`, and pausing every caller on 429) up to `cxone.max_attempts` attempts in all,
//! and on 401 drops the token and retries once. Redirects and other 4xx are not retried, nor
//! is a request that cannot be built (an over-long URL, an invalid header).
//! Error bodies are kept for the caller; each call ends in one audit record. The calls
//! themselves are built by the functions of [`api`](super::api), one per call of the API.
//!
//! The HTTP client (awc) is bound to the thread that made it, so actors keep a Send
//! [`CxoneHandle`] and build their [`CxoneClient`] in their own context.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_rt::time::sleep;
use awc::error::SendRequestError;
use awc::http::Method;

use super::error::TokenError;
use super::error::{is_local, CxoneError, TransportCause, TransportKind, MAX_ERROR_TEXT_BYTES};
use super::rate_limiter::{self, RateLimit, RateLimiterActor, Throttle};
use super::retry::{self, RetryPolicy};
use super::token_cache::{AccessToken, GetToken, TokenCache};
use crate::audit::{AuditActor, AuditEvent, AuditOutcome};
use crate::metrics::METRICS;
use crate::settings::CxoneSettings;
use crate::text::truncate;

/// Largest error or response body kept, in bytes.
pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

/// One API call.
#[derive(Debug, Clone)]
pub struct ApiCall {
    /// Operation name for logs, metrics and audit, e.g. `acknowledge`.
    pub operation: &'static str,
    /// HTTP method.
    pub method: Method,
    /// Path relative to the base URL, already expanded (see [`CxoneHandle::path`]).
    pub path: String,
    /// Id of the object operated on (for the audit record).
    pub target_id: String,
    /// Correlation id sent as `X-Correlation-ID`.
    pub correlation_id: String,
    /// JSON body, if any.
    pub json: Option<Vec<u8>>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Retry policy; `None`: the tenant's (`cxone.max_attempts`, `cxone.backoff_*`).
    pub retry: Option<RetryPolicy>,
    /// Redirects followed at most (re-sending the same request to `Location`); 0: a 3xx is
    /// a final answer.
    pub max_redirects: u8,
}

impl ApiCall {
    /// A call without body or extra headers, with a new correlation id.
    pub fn new(
        operation: &'static str,
        method: Method,
        path: String,
        target_id: impl Into<String>,
    ) -> Self {
        ApiCall {
            operation,
            method,
            path,
            target_id: target_id.into(),
            correlation_id: uuid::Uuid::new_v4().to_string(),
            json: None,
            headers: Vec::new(),
            retry: None,
            max_redirects: 0,
        }
    }
}

/// A 2xx answer.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// HTTP status.
    pub status: u16,
    /// `Location` header, when present.
    pub location: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Attempts made, the first included.
    pub attempts: u32,
}

/// What an actor keeps to build its [`CxoneClient`]: Send and cheap to clone.
#[derive(Clone)]
pub struct CxoneHandle {
    settings: Arc<CxoneSettings>,
    tls: Arc<rustls::ClientConfig>,
    token: Recipient<GetToken>,
    token_cache: Arc<TokenCache>,
    limiter: Addr<RateLimiterActor>,
    limit: Arc<RateLimit>,
    audit: Option<Addr<AuditActor>>,
}

impl CxoneHandle {
    /// A handle on the tenant's token and rate limiter actors and the state they share with
    /// callers (`token_cache`, `limit`), calling over `tls`, auditing to `audit`.
    pub fn new(
        settings: Arc<CxoneSettings>,
        tls: Arc<rustls::ClientConfig>,
        token: Recipient<GetToken>,
        token_cache: Arc<TokenCache>,
        limiter: Addr<RateLimiterActor>,
        limit: Arc<RateLimit>,
        audit: Option<Addr<AuditActor>>,
    ) -> Self {
        CxoneHandle {
            settings,
            tls,
            token,
            token_cache,
            limiter,
            limit,
            audit,
        }
    }

    /// The tenant's settings.
    pub fn settings(&self) -> &CxoneSettings {
        &self.settings
    }

    /// A valid token: the cached one, or the one the token actor obtains (one refresh for
    /// all callers waiting).
    ///
    /// Errors: the outer one when the token actor is gone (restarting), the inner one when
    /// no token could be obtained.
    pub async fn token(&self) -> Result<Result<AccessToken, TokenError>, MailboxError> {
        match self.token_cache.valid(Instant::now()) {
            Some(t) => Ok(Ok(t)),
            None => self.token.send(GetToken).await,
        }
    }

    /// Expands a path template, replacing `{name}` by the URL-escaped value.
    pub fn path(template: &str, params: &[(&str, &str)]) -> String {
        let mut out = template.to_string();
        for (name, value) in params {
            let escaped =
                percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            out = out.replace(&format!("{{{name}}}"), &escaped);
        }
        out
    }

    /// Builds a client bound to the current thread, whose requests time out after
    /// `cxone.request_timeout_ms`.
    pub fn client(&self) -> CxoneClient {
        let http = crate::http::client(
            self.tls.clone(),
            Duration::from_millis(self.settings.request_timeout_ms),
        );
        CxoneClient {
            http,
            handle: self.clone(),
        }
    }
}

/// The CXone API client of one thread.
#[derive(Clone)]
pub struct CxoneClient {
    http: awc::Client,
    handle: CxoneHandle,
}

enum Attempt {
    Done(ApiResponse),
    Redirect(String),
    Final(CxoneError),
    Retry {
        after: Option<Duration>,
        error: CxoneError,
    },
    Reauth,
}

impl CxoneClient {
    /// The handle this client was built from.
    pub fn handle(&self) -> &CxoneHandle {
        &self.handle
    }

    /// Sends `call` with rate limiting, token, retries and auditing.
    ///
    /// Errors: [`CxoneError::Status`] for a non-2xx final answer (its body kept),
    /// [`CxoneError::Transport`] when every attempt failed in transport,
    /// [`CxoneError::Request`] at once when the request cannot be built (see [`is_local`]),
    /// [`CxoneError::Token`] when no token could be had, [`CxoneError::TooManyRedirects`]
    /// past `call.max_redirects`, [`CxoneError::Mailbox`] while the token actor restarts.
    pub async fn send(&self, call: &ApiCall) -> Result<ApiResponse, CxoneError> {
        let started = Instant::now();
        let result = self.send_with_retries(call).await;
        let mut event = AuditEvent::now(
            "CxoneClient",
            call.operation,
            call.correlation_id.clone(),
            call.target_id.clone(),
        );
        event.latency_ms = started.elapsed().as_millis() as u64;
        let outcome_label = match &result {
            Ok(resp) => {
                event.http_status = Some(resp.status);
                resp.status.to_string()
            }
            Err(e) => {
                event.http_status = e.status();
                event.outcome = AuditOutcome::Failed;
                event.error = Some(e.to_string());
                match e {
                    CxoneError::Request(_) => "request".to_string(),
                    _ => e
                        .status()
                        .map_or_else(|| "transport".to_string(), |s| s.to_string()),
                }
            }
        };
        METRICS
            .cxone_calls
            .with_label_values(&[call.operation, &outcome_label])
            .inc();
        if let Some(audit) = &self.handle.audit {
            audit.do_send(event);
        }
        result
    }

    async fn send_with_retries(&self, call: &ApiCall) -> Result<ApiResponse, CxoneError> {
        let s = &self.handle.settings;
        let policy = call.retry.unwrap_or_else(|| RetryPolicy::tenant(s));
        let mut delays = policy.delays();
        let mut url = format!("{}{}", s.base_url, call.path);
        let mut hops = 0u8;
        let mut reauthed = false;
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.attempt(call, &url, attempts).await {
                Attempt::Done(resp) => return Ok(resp),
                Attempt::Final(e) => return Err(e),
                Attempt::Redirect(location) => {
                    if hops >= call.max_redirects {
                        return Err(CxoneError::TooManyRedirects { hops, location });
                    }
                    hops += 1;
                    attempts -= 1;
                    url = match url::Url::parse(&url).and_then(|base| base.join(&location)) {
                        Ok(next) => next.to_string(),
                        Err(e) => {
                            let text = format!("redirect to an invalid Location {location:?}: {e}");
                            return Err(CxoneError::Transport(TransportCause::with_source(
                                TransportKind::Redirect,
                                text,
                                e,
                            )));
                        }
                    };
                    log::debug!(
                        "component=CxoneClient event=redirect operation={} hop={hops}",
                        call.operation
                    );
                }
                Attempt::Reauth if !reauthed => {
                    reauthed = true;
                    attempts -= 1;
                }
                Attempt::Reauth => {
                    return Err(CxoneError::Status {
                        status: 401,
                        body: "unauthorized after a fresh token".into(),
                    })
                }
                Attempt::Retry { after, error } => match delays.next() {
                    Some(d) => {
                        log::debug!(
                            "component=CxoneClient event=retry operation={} attempt={attempts} error={error}",
                            call.operation
                        );
                        sleep(policy.wait(after, d)).await;
                    }
                    None => return Err(error),
                },
            }
        }
    }

    async fn attempt(&self, call: &ApiCall, url: &str, attempts: u32) -> Attempt {
        let h = &self.handle;
        rate_limiter::acquire_from(&h.limit).await;
        let token = match h.token().await {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => return Attempt::Final(CxoneError::Token(e)),
            Err(e) => return Attempt::Final(CxoneError::Mailbox(e)),
        };
        let mut req = self
            .http
            .request(call.method.clone(), url)
            .insert_header(("Authorization", format!("Bearer {}", token.secret())))
            .insert_header(("Accept", "application/json"))
            .insert_header(("X-Correlation-ID", call.correlation_id.as_str()));
        for (name, value) in &call.headers {
            req = req.insert_header((name.as_str(), value.as_str()));
        }
        let sent = match &call.json {
            Some(body) => {
                req.insert_header(("Content-Type", "application/json"))
                    .send_body(body.clone())
                    .await
            }
            None => req.send().await,
        };
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return send_failed(e),
        };
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let retry_after = retry::retry_after(resp.headers());
        let body = match resp.body().limit(MAX_RESPONSE_BYTES).await {
            Ok(b) => b.to_vec(),
            Err(e) => {
                return Attempt::Retry {
                    after: None,
                    error: CxoneError::Transport(TransportCause::with_source(
                        TransportKind::ReadBody,
                        format!("reading the body: {e}"),
                        e,
                    )),
                }
            }
        };
        if (200..300).contains(&status) {
            return Attempt::Done(ApiResponse {
                status,
                location,
                body,
                attempts,
            });
        }
        if status == 401 {
            // Dropped from the shared cache at once, so the retry cannot read the refused
            // token again; the next GetToken makes the token actor refresh.
            if h.token_cache.clear_if(&token) {
                log::info!("component=CxoneClient event=token_invalidated");
            }
            return Attempt::Reauth;
        }
        if (300..400).contains(&status) && call.max_redirects > 0 {
            if let Some(location) = location {
                return Attempt::Redirect(location);
            }
        }
        let error = CxoneError::Status {
            status,
            body: truncate(&String::from_utf8_lossy(&body), 2048),
        };
        if status == 429 {
            h.limiter.do_send(Throttle {
                retry_after: retry_after.unwrap_or(Duration::from_secs(1)),
            });
        }
        if retry::is_retryable(status) {
            Attempt::Retry {
                after: retry_after,
                error,
            }
        } else {
            Attempt::Final(error)
        }
    }
}

/// The attempt after awc failed to send: final ([`CxoneError::Request`]) when
/// [`is_local`], otherwise retried ([`CxoneError::Transport`]).
fn send_failed(e: SendRequestError) -> Attempt {
    let local = is_local(&e);
    let cause = TransportCause::from_send(e, MAX_ERROR_TEXT_BYTES);
    if local {
        Attempt::Final(CxoneError::Request(cause))
    } else {
        Attempt::Retry {
            after: None,
            error: CxoneError::Transport(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parameters_are_url_escaped() {
        assert_eq!(
            CxoneHandle::path("/api/v2/data/actions/{id}/acknowledge", &[("id", "a/b c")]),
            "/api/v2/data/actions/a%2Fb%20c/acknowledge"
        );
    }

    #[actix_rt::test]
    async fn a_request_that_cannot_be_built_is_final_and_a_refused_connection_is_retried() {
        let http = awc::Client::default();
        let long = format!("http://127.0.0.1:9/{}", "a".repeat(70_000));
        let e = http
            .post(long.as_str())
            .send()
            .await
            .expect_err("uri too long");
        assert!(is_local(&e), "{e:?}");
        match send_failed(e) {
            Attempt::Final(CxoneError::Request(cause)) => {
                let text = cause.to_string();
                assert!(text.len() <= MAX_ERROR_TEXT_BYTES + 3, "{text}")
            }
            _ => panic!("not final"),
        }
        let e = http
            .post("ftp://127.0.0.1/")
            .send()
            .await
            .expect_err("unknown scheme");
        assert!(is_local(&e), "{e:?}");
        let e = http
            .post("http://127.0.0.1:9/")
            .insert_header(("x-bad", "line\nbreak"))
            .send()
            .await
            .expect_err("invalid header value");
        assert!(is_local(&e), "{e:?}");

        // Nothing listens on a port just released: a transport error, retried.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let e = http
            .post(format!("http://127.0.0.1:{port}/"))
            .send()
            .await
            .expect_err("connection refused");
        assert!(!is_local(&e), "{e:?}");
        let Attempt::Retry {
            error: CxoneError::Transport(cause),
            ..
        } = send_failed(e)
        else {
            panic!("a refused connection is retried")
        };
        assert_eq!(cause.kind(), TransportKind::Connect);
        let io = std::error::Error::source(&cause)
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error is kept");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
        assert!(!is_local(&SendRequestError::Timeout));
    }
}
