//! The CXone side of the actor graph, started in one go: the audit log, the tenant's token
//! cache and rate limiter (each supervised), and the [`CxoneHandle`] CXone callers keep. The
//! service builds it at start-up, and so do CLI commands that call CXone in-process.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix::prelude::*;

use super::client::CxoneHandle;
use super::rate_limiter::RateLimiterActor;
use super::token::TokenActor;
use crate::audit::AuditActor;
use crate::http::{self, TlsError};
use crate::settings::{AuditSettings, CxoneSettings};

/// Why the CXone actors could not start. Displayed naming the key at fault; the cause is the
/// error's [`source`](std::error::Error::source).
#[derive(Debug)]
pub enum RuntimeError {
    /// `cxone.ca_file` is unusable (displayed as the [`TlsError`] itself, whose source it
    /// shares).
    Tls(TlsError),
    /// `audit.path` (or its directory) cannot be created or opened.
    Audit {
        /// The configured `audit.path`.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeError::Tls(e) => e.fmt(f),
            RuntimeError::Audit { path, .. } => write!(f, "audit.path: cannot open {path}"),
        }
    }
}

impl std::error::Error for RuntimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Transparent: the TLS error already says what failed.
            RuntimeError::Tls(e) => e.source(),
            RuntimeError::Audit { source, .. } => Some(source),
        }
    }
}

/// The started CXone actors and the handle on them.
pub struct CxoneRuntime {
    /// What CXone callers keep.
    pub handle: CxoneHandle,
    /// Token cache.
    pub token: Addr<TokenActor>,
    /// Client-side rate limiter.
    pub limiter: Addr<RateLimiterActor>,
    /// Audit log.
    pub audit: Addr<AuditActor>,
}

impl CxoneRuntime {
    /// Starts the supervised audit (appending to `audit.path`), token and rate limiter
    /// (`cxone.requests_per_minute`, `cxone.burst`) actors for the tenant of `cxone`, in the
    /// current arbiter; its calls trust the webpki roots plus `cxone.ca_file`.
    ///
    /// Errors: [`RuntimeError::Tls`] when `cxone.ca_file` is unusable,
    /// [`RuntimeError::Audit`] when `audit.path` cannot be opened.
    pub fn start(cxone: &CxoneSettings, audit: &AuditSettings) -> Result<Self, RuntimeError> {
        let cxone = Arc::new(cxone.clone());
        let ca_file = (!cxone.ca_file.is_empty()).then(|| PathBuf::from(&cxone.ca_file));
        let tls = http::tls_config(ca_file.as_deref()).map_err(RuntimeError::Tls)?;
        let audit_actor =
            AuditActor::open(Path::new(&audit.path)).map_err(|source| RuntimeError::Audit {
                path: audit.path.clone(),
                source,
            })?;
        let audit = Supervisor::start(move |_| audit_actor);
        let token_actor = TokenActor::new(cxone.clone(), tls.clone());
        let token_cache = token_actor.cache();
        let token = Supervisor::start(move |_| token_actor);
        let limiter_actor = RateLimiterActor::new(cxone.requests_per_minute, cxone.burst);
        let limit = limiter_actor.shared();
        let limiter = Supervisor::start(move |_| limiter_actor);
        let handle = CxoneHandle::new(
            cxone,
            tls,
            token.clone().recipient(),
            token_cache,
            limiter.clone(),
            limit,
            Some(audit.clone()),
        );
        Ok(CxoneRuntime {
            handle,
            token,
            limiter,
            audit,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn an_unopenable_audit_log_names_the_key_and_keeps_the_io_error() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-runtime-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // A directory cannot be opened for appending.
        let audit = AuditSettings {
            path: dir.display().to_string(),
        };
        let result = CxoneRuntime::start(&super::super::tests::default_settings(), &audit);
        let _ = std::fs::remove_dir_all(&dir);
        let Err(e) = result else {
            panic!("a directory is no audit log")
        };
        assert!(matches!(e, RuntimeError::Audit { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("audit.path: cannot open {}", audit.path)
        );
        assert!(e
            .source()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some());
    }

    #[test]
    fn an_unusable_ca_file_is_the_tls_error_itself() {
        let mut cxone = super::super::tests::default_settings();
        cxone.ca_file = "/nonexistent/ca.pem".into();
        let audit = AuditSettings {
            path: "/nonexistent/audit.jsonl".into(),
        };
        let Err(e) = CxoneRuntime::start(&cxone, &audit) else {
            panic!("no such CA file")
        };
        assert!(
            e.to_string()
                .starts_with("cxone.ca_file /nonexistent/ca.pem: "),
            "{e}"
        );
        assert!(e.source().is_none());
    }
}
