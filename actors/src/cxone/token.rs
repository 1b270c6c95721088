//! TokenActor: the OAuth2 token of one CXone tenant. Cached; refreshed proactively before
//! expiry; one refresh in flight however many callers wait ([`GetToken`] callers queue
//! behind it); a 401 from the API lets the client drop a token ([`TokenCache::clear_if`]).
//!
//! Grants (seed 004, seed 001 with its escaping defect fixed, seed 002 with its content-type
//! defect fixed): `client_credentials` with the client id and secret in a form-encoded,
//! URL-escaped body, or `password` with the access key id/secret as username/password and
//! the client credentials as HTTP Basic (each part URL-escaped first, RFC 6749 §2.3.1). The
//! request itself is [`api::request_token`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use serde::Deserialize;
use tokio::sync::oneshot;

use super::api;
use super::error::{InvalidTokenBody, TokenError, TokenFailure};
use super::retry::{self, RetryPolicy};
use super::token_cache::{AccessToken, GetToken, TokenCache};
use crate::lifecycle::Lifecycle;
use crate::metrics::METRICS;
use crate::settings::CxoneSettings;

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

type Waiter = oneshot::Sender<Result<AccessToken, TokenError>>;

/// The token cache of one tenant.
pub struct TokenActor {
    settings: Arc<CxoneSettings>,
    tls: Arc<rustls::ClientConfig>,
    cache: Arc<TokenCache>,
    refreshing: bool,
    waiters: Vec<Waiter>,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl TokenActor {
    /// A token cache for the tenant in `settings`, calling it over `tls`.
    pub fn new(settings: Arc<CxoneSettings>, tls: Arc<rustls::ClientConfig>) -> Self {
        TokenActor {
            settings,
            tls,
            cache: Arc::default(),
            refreshing: false,
            waiters: Vec::new(),
            lifecycle: Lifecycle::new("TokenActor"),
        }
    }

    fn new_client(&self) -> awc::Client {
        crate::http::client(
            self.tls.clone(),
            Duration::from_millis(self.settings.request_timeout_ms),
        )
    }

    /// The cache this actor writes, for clients that read the token directly.
    pub fn cache(&self) -> Arc<TokenCache> {
        self.cache.clone()
    }

    fn start_refresh(&mut self, ctx: &mut Context<Self>) {
        if self.refreshing {
            return;
        }
        self.refreshing = true;
        // A refresh comes about once per token lifetime: no pooled connection would still
        // be open for the next one.
        let http = self.new_client();
        let settings = self.settings.clone();
        ctx.spawn(
            fetch_token(http, settings)
                .into_actor(self)
                .map(|result, act, ctx| {
                    act.refreshing = false;
                    let delivered = match result {
                        Ok((token, ttl)) => {
                            METRICS.tokens.inc();
                            let (refresh_in, usable_for) =
                                schedule(ttl, act.settings.token_refresh_margin_secs);
                            log::info!(
                        "actor=TokenActor event=token_obtained expires_in_secs={} refresh_in_ms={}",
                        ttl.as_secs(),
                        refresh_in.as_millis()
                    );
                            act.cache.set(token.clone(), Instant::now() + usable_for);
                            ctx.run_later(refresh_in, |act, ctx| act.start_refresh(ctx));
                            Ok(token)
                        }
                        Err(e) => {
                            log::warn!("actor=TokenActor event=token_failed error={e}");
                            Err(e)
                        }
                    };
                    for waiter in act.waiters.drain(..) {
                        let _ = waiter.send(delivered.clone());
                    }
                }),
        );
    }
}

/// When to refresh a token of lifetime `ttl`, and how long to hand it out: refresh `margin`
/// before expiry (a quarter of the lifetime for short-lived tokens), hand out until 1 s
/// before expiry (or an eighth of the lifetime).
fn schedule(ttl: Duration, margin_secs: u64) -> (Duration, Duration) {
    let margin = Duration::from_secs(margin_secs).min(ttl / 4);
    let skew = Duration::from_secs(1).min(ttl / 8);
    (ttl - margin, ttl - skew)
}

/// One token ([`api::request_token`]), retried on 429/5xx/transport errors.
async fn fetch_token(
    http: awc::Client,
    s: Arc<CxoneSettings>,
) -> Result<(AccessToken, Duration), TokenError> {
    let policy = RetryPolicy::tenant(&s);
    let mut delays = policy.delays();
    loop {
        let (retry_after, last_error) = match api::request_token(&http, &s).await {
            Ok(answer) => {
                let status = answer.status;
                if (200..300).contains(&status) {
                    let parsed: TokenResponse =
                        serde_json::from_slice(&answer.body).map_err(|e| {
                            TokenError::InvalidResponse(InvalidTokenBody::Json(Arc::new(e)))
                        })?;
                    if parsed.access_token.is_empty() {
                        return Err(TokenError::InvalidResponse(InvalidTokenBody::EmptyToken));
                    }
                    let ttl = Duration::from_secs(parsed.expires_in.unwrap_or(3600).max(1));
                    return Ok((AccessToken::new(&parsed.access_token), ttl));
                }
                if !retry::is_retryable(status) {
                    return Err(TokenError::Refused(status));
                }
                (answer.retry_after, TokenFailure::Status(status))
            }
            Err(cause) => (None, TokenFailure::Transport(cause)),
        };
        match delays.next() {
            Some(d) => actix_rt::time::sleep(policy.wait(retry_after, d)).await,
            None => return Err(TokenError::Unavailable(last_error)),
        }
    }
}

impl Actor for TokenActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        self.lifecycle.started();
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        Running::Stop
    }
}

impl Supervised for TokenActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.lifecycle.restarted();
        // The refresh future died with the old context; let the next caller start another.
        self.refreshing = false;
        self.waiters.clear();
    }
}

/// Hands out the cached token, or queues the caller behind the one refresh in flight.
impl Handler<GetToken> for TokenActor {
    type Result = ResponseFuture<Result<AccessToken, TokenError>>;

    fn handle(&mut self, _: GetToken, ctx: &mut Self::Context) -> Self::Result {
        if let Some(token) = self.cache.valid(Instant::now()) {
            return Box::pin(async move { Ok(token) });
        }
        let (tx, rx) = oneshot::channel();
        self.waiters.push(tx);
        self.start_refresh(ctx);
        Box::pin(async move {
            rx.await
                .unwrap_or(Err(TokenError::Unavailable(TokenFailure::Cancelled)))
        })
    }
}

crate::handle_stop_actor!(TokenActor);

#[cfg(test)]
mod tests {
    use super::super::error::TransportCause;
    use super::*;

    #[test]
    fn long_lived_tokens_refresh_a_margin_before_expiry() {
        let (refresh, usable) = schedule(Duration::from_secs(3600), 60);
        assert_eq!(refresh, Duration::from_secs(3540));
        assert_eq!(usable, Duration::from_secs(3599));
    }

    #[test]
    fn short_lived_tokens_refresh_at_three_quarters_and_stay_usable_until_near_expiry() {
        let (refresh, usable) = schedule(Duration::from_secs(2), 60);
        assert_eq!(refresh, Duration::from_millis(1500));
        assert_eq!(usable, Duration::from_millis(1750));
        assert!(refresh < usable);
    }

    #[actix_rt::test]
    async fn an_unreachable_token_endpoint_keeps_the_last_transport_failure_as_source() {
        use std::error::Error as _;

        // Nothing listens on a port just released.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut settings = super::super::tests::default_settings();
        settings.base_url = format!("http://127.0.0.1:{port}");
        settings.max_attempts = 1;
        let Err(e) = fetch_token(awc::Client::default(), Arc::new(settings)).await else {
            panic!("nothing listens")
        };
        let TokenError::Unavailable(TokenFailure::Transport(cause)) = &e else {
            panic!("not a transport failure: {e:?}")
        };
        assert_eq!(
            e.to_string(),
            format!("token endpoint unavailable: {cause}")
        );
        let failure = e
            .source()
            .and_then(|s| s.downcast_ref::<TokenFailure>())
            .expect("the last failure");
        let cause = failure
            .source()
            .and_then(|s| s.downcast_ref::<TransportCause>())
            .expect("the transport cause");
        assert_eq!(cause.kind(), super::super::TransportKind::Connect);
        let io = cause
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);

        // Seen by a CXone caller, the chain goes on below its token error.
        let e = crate::cxone::CxoneError::Token(e);
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<TokenError>())
            .is_some());
    }

    #[test]
    fn texts_are_unchanged_and_causes_are_kept() {
        use std::error::Error as _;

        let e = TokenError::Unavailable(TokenFailure::Status(503));
        assert_eq!(e.to_string(), "token endpoint unavailable: HTTP 503");
        assert!(e.source().is_some_and(|s| s.source().is_none()));
        let e = TokenError::Unavailable(TokenFailure::Cancelled);
        assert_eq!(
            e.to_string(),
            "token endpoint unavailable: token refresh was cancelled"
        );
        let json = serde_json::from_slice::<TokenResponse>(b"{}")
            .err()
            .expect("no token");
        let text = json.to_string();
        let e = TokenError::InvalidResponse(InvalidTokenBody::Json(Arc::new(json)));
        assert_eq!(
            e.to_string(),
            format!("token endpoint answered an invalid body: {text}")
        );
        assert!(e
            .source()
            .and_then(|s| s.source())
            .and_then(|s| s.downcast_ref::<serde_json::Error>())
            .is_some());
        let e = TokenError::InvalidResponse(InvalidTokenBody::EmptyToken);
        assert_eq!(
            e.to_string(),
            "token endpoint answered an invalid body: empty access_token"
        );
    }

    #[test]
    fn the_token_debug_output_hides_the_value() {
        let t = AccessToken::new("s3cr3t");
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
