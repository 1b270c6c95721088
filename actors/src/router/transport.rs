//! How the Kafka connection reaches the brokers: TLS (`kafka.tls.*`: rustls, TLS 1.2 and
//! 1.3, the built-in roots plus `ca_file`, an optional client certificate) and SASL
//! (`kafka.sasl.*`: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, all implemented by rskafka).
//!
//! rskafka retries a connection that fails its TLS handshake or its authentication like one
//! that is refused, and says only that its retries ran out. So before it connects, a TLS
//! handshake of our own with the first bootstrap broker ([`Transport::probe`]) tells an
//! untrusted certificate or a wrong name from an unreachable broker, and start-up stops with a
//! message naming `kafka.tls`; an authentication failure is recognised in rskafka's error and
//! named `kafka.sasl`. No message holds the password.

use std::sync::Arc;
use std::time::Duration;

use rskafka::client::{ClientBuilder, Credentials, SaslConfig};
use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};

use super::kafka_error::KafkaSetupError;
use crate::http::{client_tls_config, ClientIdentity};
use crate::settings::{KafkaSettings, SaslMechanism};

/// TLS and SASL for the Kafka client, from `kafka.tls` and `kafka.sasl`.
#[derive(Clone, Default)]
pub struct Transport {
    /// The rustls configuration, when `kafka.tls.enabled`.
    tls: Option<Arc<ClientConfig>>,
    /// The SASL mechanism and credentials, when `kafka.sasl.mechanism` is set.
    sasl: Option<SaslConfig>,
    /// The mechanism's name, for messages.
    mechanism: SaslMechanism,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.mechanism)
            .finish()
    }
}

impl Transport {
    /// Reads `kafka.tls` and `kafka.sasl`.
    ///
    /// Errors: [`KafkaSetupError::TlsFile`] for a certificate or key file that cannot be read
    /// or used (naming its setting), [`KafkaSetupError::SaslSettings`] for a mechanism without
    /// a user name.
    pub fn from_settings(settings: &KafkaSettings) -> Result<Self, KafkaSetupError> {
        let t = &settings.tls;
        let tls = if t.enabled {
            fn path(p: &str) -> Option<&std::path::Path> {
                (!p.is_empty()).then(|| std::path::Path::new(p))
            }
            let identity = match (path(&t.cert_file), path(&t.key_file)) {
                (Some(cert_file), Some(key_file)) => Some(ClientIdentity {
                    cert_file,
                    key_file,
                }),
                (None, None) => None,
                _ => {
                    return Err(KafkaSetupError::TlsSettings {
                        message: "cert_file and key_file go together (mutual TLS)".into(),
                    })
                }
            };
            let config = client_tls_config(path(&t.ca_file), "kafka.tls.ca_file", identity)
                .map_err(KafkaSetupError::TlsFile)?;
            Some(config)
        } else {
            None
        };
        let s = &settings.sasl;
        let credentials = || Credentials::new(s.username.clone(), s.password.clone());
        let sasl = match s.mechanism {
            SaslMechanism::None => None,
            _ if s.username.is_empty() => {
                return Err(KafkaSetupError::SaslSettings {
                    message: "username must be set with a mechanism".into(),
                })
            }
            SaslMechanism::Plain => Some(SaslConfig::Plain(credentials())),
            SaslMechanism::ScramSha256 => Some(SaslConfig::ScramSha256(credentials())),
            SaslMechanism::ScramSha512 => Some(SaslConfig::ScramSha512(credentials())),
        };
        Ok(Transport {
            tls,
            sasl,
            mechanism: s.mechanism,
        })
    }

    /// Whether SASL is configured.
    pub fn authenticates(&self) -> bool {
        self.sasl.is_some()
    }

    /// `builder` with this transport's TLS and SASL.
    pub fn apply(&self, mut builder: ClientBuilder) -> ClientBuilder {
        if let Some(tls) = &self.tls {
            builder = builder.tls_config(tls.clone());
        }
        if let Some(sasl) = &self.sasl {
            builder = builder.sasl_config(sasl.clone());
        }
        builder
    }

    /// With TLS, a handshake with `broker` (`host:port`) within `timeout`: a certificate the
    /// roots do not trust, or one that does not name the host, is a
    /// [`KafkaSetupError::Tls`]; a broker that cannot be reached is left to the client (which
    /// reports it as unreachable).
    pub async fn probe(&self, broker: &str, timeout: Duration) -> Result<(), KafkaSetupError> {
        let Some(tls) = &self.tls else {
            return Ok(());
        };
        let host = broker
            .rsplit_once(':')
            .map_or(broker, |(h, _)| h)
            .trim_start_matches('[')
            .trim_end_matches(']');
        let Ok(name) = ServerName::try_from(host.to_string()) else {
            return Err(KafkaSetupError::Tls {
                message: format!("{host} is not a host name or an IP address"),
            });
        };
        let Ok(Ok(stream)) =
            tokio::time::timeout(timeout, tokio::net::TcpStream::connect(broker)).await
        else {
            return Ok(());
        };
        let connector = tokio_rustls::TlsConnector::from(tls.clone());
        let handshake = match tokio::time::timeout(timeout, connector.connect(name, stream)).await {
            Ok(h) => h,
            Err(_) => {
                return Err(KafkaSetupError::Tls {
                    message: format!("{broker} did not complete a TLS handshake in time"),
                })
            }
        };
        let Err(e) = handshake else {
            return Ok(());
        };
        let rustls_error = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        let message = match rustls_error {
            Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => format!(
                "the certificate of {broker} is not signed by a CA of the built-in roots or kafka.tls.ca_file"
            ),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => format!("the certificate of {broker} does not name {host}"),
            Some(other) => format!("the TLS handshake with {broker} failed: {other}"),
            None => format!("the TLS handshake with {broker} failed: {e}"),
        };
        Err(KafkaSetupError::Tls { message })
    }

    /// `error` (the client's, after it gave up) as an authentication failure naming
    /// `kafka.sasl`, when it is one.
    pub fn authentication_failure(&self, error: &dyn std::error::Error) -> Option<KafkaSetupError> {
        self.sasl.as_ref()?;
        let mut text = error.to_string();
        let mut source = error.source();
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        let lower = text.to_lowercase();
        (lower.contains("sasl") || lower.contains("authenticat")).then(|| KafkaSetupError::Sasl {
            mechanism: self.mechanism,
            message: text,
        })
    }
}
