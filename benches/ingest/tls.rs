//! A nisshi broker serving TLS only, for the ingestion target `tls`: a test CA and a broker
//! certificate for 127.0.0.1 made here (rcgen), the broker on a free port with in-memory
//! storage, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// The TLS broker: its address and the CA file that verifies it.
pub(crate) struct TlsBroker {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub(crate) address: String,
    /// PEM of the CA that signed its certificate.
    pub(crate) ca_file: PathBuf,
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts nisshi (`$NISSHI_BIN`, else `nisshi` on the `PATH`) with TLS in a temp dir; waits
/// until it listens.
///
/// Errors: the certificates cannot be made or written, or the broker does not start within
/// 10 s.
pub(crate) fn start() -> anyhow::Result<TlsBroker> {
    let dir = std::env::temp_dir().join(format!("sbbench-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).context("temp dir")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate()?;
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])?.signed_by(&key, &issuer)?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca_cert.pem())?;
    std::fs::write(dir.join("broker.pem"), cert.pem())?;
    std::fs::write(dir.join("broker-key.pem"), key.serialize_pem())?;
    std::fs::write(dir.join(".env"), "")?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("tcp://127.0.0.1:{port}");
    let bin = std::env::var("NISSHI_BIN").unwrap_or_else(|_| "nisshi".into());
    let child = Command::new(bin)
        .current_dir(&dir)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://nisshi/"])
        .args(["--cert", "broker.pem", "--key", "broker-key.pem"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting nisshi (scripts/broker.sh install installs it)")?;
    let broker = TlsBroker {
        child,
        address: format!("127.0.0.1:{port}"),
        ca_file,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the TLS broker did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(broker)
}
