//! Why a CXone call failed ([`CxoneError`]), and what is kept of a failure below HTTP
//! ([`TransportCause`]): its kind, awc's text, and the original error where it can be shared
//! between threads.
//!
//! Each error's text stays what it always was (tests, logs and audit records read it); its
//! cause is reachable through [`std::error::Error::source`]:
//!
//! ```text
//! CxoneError::Transport / Request ──▶ TransportCause ──▶ io::Error, h2::Error, http::Error, …
//! CxoneError::Token ──▶ TokenError::Unavailable ──▶ TokenFailure::Transport ──▶ TransportCause ──▶ …
//! CxoneError::Mailbox ──▶ actix::MailboxError
//! ```

use std::error::Error;
use std::sync::Arc;

use actix::MailboxError;
use awc::error::{ConnectError, SendRequestError};

use crate::text::truncate;

/// Largest text of a [`CxoneError::Transport`] or [`CxoneError::Request`] kept, in bytes:
/// awc's messages are short, but may quote what was sent.
pub const MAX_ERROR_TEXT_BYTES: usize = 256;

/// Why a CXone call failed.
#[derive(Debug, Clone, derive_more::Display, derive_more::Error)]
pub enum CxoneError {
    /// The API answered a non-2xx status (after retries, when retryable); `body` is its text.
    #[display("CXone answered HTTP {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Response body (truncated to 2 KiB for display).
        body: String,
    },
    /// Connection, timeout or protocol failure on every attempt; displayed with awc's text,
    /// cut to [`MAX_ERROR_TEXT_BYTES`]. Source: the last attempt's [`TransportCause`].
    #[display("CXone unreachable: {_0}")]
    Transport(TransportCause),
    /// The request could not be built for a local reason no retry can change: an invalid or
    /// over-long URL (e.g. a path made from a 70 KB id), an invalid header, an unsupported
    /// scheme. Never retried. Displayed with awc's text, cut to [`MAX_ERROR_TEXT_BYTES`].
    /// Source: its [`TransportCause`].
    #[display("the request could not be built: {_0}")]
    Request(TransportCause),
    /// No token could be obtained. Source: the [`TokenError`].
    #[display("{_0}")]
    Token(TokenError),
    /// More redirects than the call allows (a redirect loop is reported as such).
    #[display(
        "too many redirects: gave up after {hops} hops (last Location {location}); a redirect loop"
    )]
    TooManyRedirects {
        /// Redirects followed.
        hops: u8,
        /// The last `Location`.
        location: String,
    },
    /// An actor the client relies on is gone (the token actor, while it restarts). Source:
    /// actix's [`MailboxError`].
    #[display("internal actor unavailable: {_0}")]
    Mailbox(MailboxError),
}

impl CxoneError {
    /// The HTTP status, when the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            CxoneError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// What failed below HTTP, as awc reports it ([`SendRequestError`] and its
/// [`ConnectError`]), plus the two failures the client meets after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The URL is invalid or its scheme unknown ([`SendRequestError::Url`]).
    Url,
    /// The HTTP request builder refused the request: an over-long URI, an invalid header
    /// name or value ([`SendRequestError::Http`]).
    Http,
    /// No connection: name resolution, refused, reset, TLS, connect timeout
    /// ([`SendRequestError::Connect`]).
    Connect,
    /// Writing the request failed ([`SendRequestError::Send`]).
    Send,
    /// The response head could not be parsed ([`SendRequestError::Response`]).
    Response,
    /// HTTP/2 protocol error ([`SendRequestError::H2`]).
    H2,
    /// No answer within `cxone.request_timeout_ms` ([`SendRequestError::Timeout`]).
    Timeout,
    /// A tunnel over an HTTP/2 connection ([`SendRequestError::TunnelNotSupported`]).
    TunnelNotSupported,
    /// The request body could not be sent or serialised ([`SendRequestError::Body`],
    /// [`SendRequestError::Custom`]).
    Body,
    /// A failure awc added after this was written.
    Other,
    /// The answer's body could not be read (cut off, corrupt, too large).
    ReadBody,
    /// A redirect's `Location` is no URL.
    Redirect,
}

/// A failure below HTTP: its [`kind`](Self::kind), its text (displayed), and, as its
/// [`source`](Error::source), the original error where it is `Send + Sync` (an
/// [`std::io::Error`], an `h2::Error`, an `http::Error`, awc's `InvalidUrl` or
/// `ParseError`, actix's `PayloadError`, a [`url::ParseError`]). awc's own
/// [`SendRequestError`] cannot be kept: some of its variants box errors that are not `Send`.
/// Cheap to clone (the source is shared).
#[derive(Debug, Clone)]
pub struct TransportCause {
    kind: TransportKind,
    text: String,
    source: Option<Arc<dyn Error + Send + Sync>>,
}

impl TransportCause {
    /// A cause of `kind` displayed as `text`, without an underlying error.
    pub fn new(kind: TransportKind, text: impl Into<String>) -> Self {
        TransportCause {
            kind,
            text: text.into(),
            source: None,
        }
    }

    /// A cause of `kind` displayed as `text`, keeping `source`.
    pub fn with_source(
        kind: TransportKind,
        text: impl Into<String>,
        source: impl Error + Send + Sync + 'static,
    ) -> Self {
        TransportCause {
            kind,
            text: text.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// What awc reported when it could not send a request: its text cut to `max_text` bytes
    /// (on a char boundary, `…` appended when cut), its kind, and the error under it where
    /// that is `Send + Sync`.
    pub fn from_send(e: SendRequestError, max_text: usize) -> Self {
        let text = truncate(&e.to_string(), max_text);
        let (kind, source): (_, Option<Arc<dyn Error + Send + Sync>>) = match e {
            SendRequestError::Url(e) => (TransportKind::Url, Some(Arc::new(e))),
            SendRequestError::Connect(ConnectError::Io(e)) => {
                (TransportKind::Connect, Some(Arc::new(e)))
            }
            SendRequestError::Connect(ConnectError::H2(e)) => {
                (TransportKind::Connect, Some(Arc::new(e)))
            }
            SendRequestError::Connect(_) => (TransportKind::Connect, None),
            SendRequestError::Send(e) => (TransportKind::Send, Some(Arc::new(e))),
            SendRequestError::Response(e) => (TransportKind::Response, Some(Arc::new(e))),
            SendRequestError::Http(e) => (TransportKind::Http, Some(Arc::new(e))),
            SendRequestError::H2(e) => (TransportKind::H2, Some(Arc::new(e))),
            SendRequestError::Timeout => (TransportKind::Timeout, None),
            SendRequestError::TunnelNotSupported => (TransportKind::TunnelNotSupported, None),
            SendRequestError::Body(_) | SendRequestError::Custom(..) => (TransportKind::Body, None),
            _ => (TransportKind::Other, None),
        };
        TransportCause { kind, text, source }
    }

    /// What failed.
    pub fn kind(&self) -> TransportKind {
        self.kind
    }
}

impl std::fmt::Display for TransportCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Error for TransportCause {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn Error + 'static))
    }
}

/// Whether awc could not send a request for a reason local to it that no retry can change:
/// an invalid URL ([`SendRequestError::Url`]), a request the HTTP builder refused — an
/// over-long URI, an invalid header name or value ([`SendRequestError::Http`]) —, a tunnel
/// over HTTP/2, a body that could not be serialised ([`SendRequestError::Custom`], which awc
/// raises only for that), or a TLS URL without TLS support. Connection, I/O, timeout, HTTP/2
/// and response errors are not local: the next attempt may succeed.
pub fn is_local(e: &SendRequestError) -> bool {
    matches!(
        e,
        SendRequestError::Url(_)
            | SendRequestError::Http(_)
            | SendRequestError::TunnelNotSupported
            | SendRequestError::Custom(..)
            | SendRequestError::Connect(ConnectError::SslIsNotSupported)
    )
}

/// Why no token could be obtained. Texts never contain credentials.
#[derive(Debug, Clone, derive_more::Display, derive_more::Error)]
pub enum TokenError {
    /// The token endpoint refused the credentials (HTTP status given).
    #[display("token endpoint refused the credentials (HTTP {_0})")]
    Refused(#[error(not(source))] u16),
    /// The token endpoint could not be reached or kept failing. Source: the last failure.
    #[display("token endpoint unavailable: {_0}")]
    Unavailable(TokenFailure),
    /// The token endpoint answered something that is not a token. Source: why.
    #[display("token endpoint answered an invalid body: {_0}")]
    InvalidResponse(InvalidTokenBody),
}

/// The last failure of the token endpoint before the token actor gave up on it
/// ([`TokenError::Unavailable`]).
#[derive(Debug, Clone, derive_more::Display, derive_more::Error)]
pub enum TokenFailure {
    /// It kept answering 429 or 5xx; the last status.
    #[display("HTTP {_0}")]
    Status(#[error(not(source))] u16),
    /// It could not be reached: awc's text, whole. Source: the [`TransportCause`].
    #[display("{_0}")]
    Transport(TransportCause),
    /// The refresh ended before it had an answer (its actor restarted).
    #[display("token refresh was cancelled")]
    Cancelled,
}

/// Why a 2xx answer of the token endpoint is no token ([`TokenError::InvalidResponse`]).
#[derive(Debug, Clone, derive_more::Display)]
pub enum InvalidTokenBody {
    /// The body is not the JSON of a token (`{"access_token", "expires_in"}`). Source: the
    /// `serde_json` error.
    #[display("{_0}")]
    Json(Arc<serde_json::Error>),
    /// `access_token` is empty.
    #[display("empty access_token")]
    EmptyToken,
}

impl std::error::Error for InvalidTokenBody {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InvalidTokenBody::Json(e) => Some(&**e),
            InvalidTokenBody::EmptyToken => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_error_keeps_its_text_and_the_io_error_under_it() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
        let e = CxoneError::Transport(TransportCause::from_send(
            SendRequestError::Send(io),
            MAX_ERROR_TEXT_BYTES,
        ));
        assert_eq!(e.to_string(), "CXone unreachable: reset by peer");
        let cause = e
            .source()
            .and_then(|c| c.downcast_ref::<TransportCause>())
            .expect("the transport cause");
        assert_eq!(cause.kind(), TransportKind::Send);
        let io = cause
            .source()
            .and_then(|c| c.downcast_ref::<std::io::Error>())
            .expect("the io error");
        assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn a_long_text_is_cut_but_the_whole_error_is_kept() {
        let invalid = "http://h/\u{1}"
            .parse::<awc::http::Uri>()
            .expect_err("a control character is no URI");
        let http_error = awc::error::HttpError::from(invalid);
        let e = CxoneError::Request(TransportCause::from_send(
            SendRequestError::Http(http_error),
            8,
        ));
        assert_eq!(e.to_string(), "the request could not be built: invalid …");
        let cause = e.source().expect("the cause");
        assert!(cause.downcast_ref::<TransportCause>().is_some());
        assert!(cause
            .source()
            .and_then(|s| s.downcast_ref::<awc::error::HttpError>())
            .is_some());
    }

    #[test]
    fn a_timeout_has_a_kind_and_no_error_under_it() {
        let cause = TransportCause::from_send(SendRequestError::Timeout, MAX_ERROR_TEXT_BYTES);
        assert_eq!(cause.kind(), TransportKind::Timeout);
        assert_eq!(cause.to_string(), "Timeout while waiting for response");
        assert!(cause.source().is_none());
    }

    #[test]
    fn a_gone_actor_is_the_mailbox_error() {
        let e = CxoneError::Mailbox(MailboxError::Closed);
        assert_eq!(
            e.to_string(),
            "internal actor unavailable: Mailbox has closed"
        );
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<MailboxError>())
            .is_some());
    }
}
