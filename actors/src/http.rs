//! The HTTP client every CXone call uses: awc over rustls, admitting only TLS 1.2 and 1.3
//! (seed 002), trusting the webpki roots plus, optionally, the certificates of
//! `cxone.ca_file` (a private CA, or a test's self-signed server); and the rustls
//! configuration the Kafka connection shares (`kafka.tls.*`, with a client certificate).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS versions the client admits.
pub const TLS_VERSIONS: [&rustls::SupportedProtocolVersion; 2] =
    [&rustls::version::TLS13, &rustls::version::TLS12];

/// Why the TLS configuration cannot be built.
#[derive(Debug, derive_more::Display, derive_more::Error)]
pub enum TlsError {
    /// A certificate or key file (`key` names its setting, e.g. `cxone.ca_file`) cannot be
    /// read or holds nothing usable.
    #[display("{key} {path}: {message}")]
    CaFile {
        /// The setting.
        key: &'static str,
        /// The file.
        #[error(not(source))]
        path: String,
        /// What failed.
        message: String,
    },
    /// rustls refused the configuration: its error, kept whole and shown as it is.
    #[display("TLS configuration: {_0}")]
    Config(#[error(not(source))] rustls::Error),
}

/// A rustls client configuration: TLS 1.2 and 1.3 only, webpki roots plus `ca_file` (PEM).
///
/// Errors: [`TlsError`] naming `cxone.ca_file`.
pub fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, TlsError> {
    client_tls_config(ca_file, "cxone.ca_file", None)
}

/// A client certificate chain and its private key, PEM files.
#[derive(Debug, Clone, Copy)]
pub struct ClientIdentity<'a> {
    /// The certificate chain (`kafka.tls.cert_file`).
    pub cert_file: &'a Path,
    /// Its private key (`kafka.tls.key_file`).
    pub key_file: &'a Path,
}

/// A rustls client configuration: TLS 1.2 and 1.3 only, webpki roots plus `ca_file` (PEM,
/// read for the setting `ca_key`), presenting `identity` when given (mutual TLS).
///
/// Errors: [`TlsError`] naming the setting and file.
pub fn client_tls_config(
    ca_file: Option<&Path>,
    ca_key: &'static str,
    identity: Option<ClientIdentity<'_>>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let err = |message: String| TlsError::CaFile {
            key: ca_key,
            path: path.display().to_string(),
            message,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no PEM certificate found".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| err(e.to_string()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&TLS_VERSIONS)
        .map_err(TlsError::Config)?
        .with_root_certificates(roots);
    let Some(identity) = identity else {
        return Ok(Arc::new(builder.with_no_client_auth()));
    };
    let file_err = |key: &'static str, path: &Path, message: String| TlsError::CaFile {
        key,
        path: path.display().to_string(),
        message,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(identity.cert_file)
        .and_then(|certs| certs.collect())
        .map_err(|e| file_err("kafka.tls.cert_file", identity.cert_file, e.to_string()))?;
    if chain.is_empty() {
        let message = "no PEM certificate found".to_string();
        return Err(file_err("kafka.tls.cert_file", identity.cert_file, message));
    }
    let key = PrivateKeyDer::from_pem_file(identity.key_file)
        .map_err(|e| file_err("kafka.tls.key_file", identity.key_file, e.to_string()))?;
    let config = builder
        .with_client_auth_cert(chain, key)
        .map_err(|e| file_err("kafka.tls.key_file", identity.key_file, e.to_string()))?;
    Ok(Arc::new(config))
}

/// An awc client over `tls` with a request timeout; redirects are not followed (callers that
/// follow them count the hops themselves).
pub fn client(tls: Arc<ClientConfig>, timeout: Duration) -> awc::Client {
    awc::Client::builder()
        .connector(awc::Connector::new().rustls_0_23(tls))
        .disable_redirects()
        .timeout(timeout)
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tls_1_2_and_1_3_are_admitted() {
        let versions: Vec<_> = TLS_VERSIONS.iter().map(|v| v.version).collect();
        assert_eq!(
            versions,
            vec![
                rustls::ProtocolVersion::TLSv1_3,
                rustls::ProtocolVersion::TLSv1_2
            ]
        );
        assert!(tls_config(None).is_ok());
    }

    #[test]
    fn a_missing_or_empty_ca_file_is_named() {
        let err = tls_config(Some(Path::new("/nonexistent/ca.pem"))).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/ca.pem"));
        let empty = std::env::temp_dir().join(format!("sb-empty-{}.pem", uuid::Uuid::new_v4()));
        std::fs::write(&empty, "").expect("write");
        assert!(tls_config(Some(&empty)).is_err());
        let _ = std::fs::remove_file(empty);
    }
}
