//! `kafka.tls`: events routed over TLS to a nisshi broker serving a certificate of a test CA,
//! and read back over TLS; a CA that did not sign the broker's certificate, or a certificate
//! that does not name the broker's host, stops start-up with a message naming `kafka.tls`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::ClientBuilder;
use serde_json::json;
use switchboard::startup::{Application, BuildOptions};

use crate::helpers::{
    broker_bin, event, eventually, spawn_app_with, spawn_sandbox, temp_dir, test_settings,
    unique_topics,
};

/// A test CA: its certificate (PEM, written to `ca.pem` in `dir`) and its issuer.
struct TestCa {
    file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

fn test_ca(dir: &Path, name: &str) -> TestCa {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    let file = dir.join(format!("{name}.pem"));
    std::fs::write(&file, cert.pem()).expect("CA file");
    TestCa {
        file,
        issuer: Issuer::new(params, key),
    }
}

/// A broker certificate for `names`, signed by `ca`: (certificate file, PKCS#8 key file).
fn broker_certificate(dir: &Path, ca: &TestCa, names: &[&str]) -> (PathBuf, PathBuf) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let params = CertificateParams::new(names).expect("params");
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, &ca.issuer).expect("certificate");
    let (cert_file, key_file) = (dir.join("broker.pem"), dir.join("broker-key.pem"));
    std::fs::write(&cert_file, cert.pem()).expect("certificate file");
    std::fs::write(&key_file, key.serialize_pem()).expect("key file");
    (cert_file, key_file)
}

/// A nisshi broker serving TLS only, on a free port; killed on drop.
struct TlsBroker {
    child: Child,
    address: String,
}

impl Drop for TlsBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn tls_broker(dir: &Path, cert: &Path, key: &Path) -> TlsBroker {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    std::fs::write(dir.join(".env"), "").expect(".env");
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(broker_bin())
        .current_dir(dir)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "memory://nisshi/"])
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nisshi starts");
    eventually(
        Duration::from_secs(10),
        "the TLS broker to listen",
        || async {
            std::net::TcpStream::connect(("127.0.0.1", port))
                .ok()
                .map(|_| ())
        },
    )
    .await;
    TlsBroker {
        child,
        address: format!("127.0.0.1:{port}"),
    }
}

#[actix_rt::test]
async fn events_are_routed_and_read_back_over_tls() {
    let dir = temp_dir();
    let ca = test_ca(&dir, "test-ca");
    let (cert, key) = broker_certificate(&dir, &ca, &["127.0.0.1", "localhost"]);
    let broker = tls_broker(&dir, &cert, &key).await;
    let ca_file = ca.file.display().to_string();
    let address = broker.address.clone();
    let app = spawn_app_with(|s| {
        s.kafka.brokers = vec![address.clone()];
        s.kafka.tls.enabled = true;
        s.kafka.tls.ca_file = ca_file.clone();
    })
    .await;
    let payloads: Vec<_> = (0..5)
        .map(|i| json!({"priority": "high", "n": i}))
        .collect();
    for (i, p) in payloads.iter().enumerate() {
        let (status, body) = app
            .post_event(
                &event(&format!("da-tls-{i}"), p.clone()),
                Some(&format!("msg-tls-{i}")),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "routed");
    }

    // Read back over TLS, trusting the same CA.
    let tls = switchboard_actors::http::client_tls_config(Some(ca.file.as_path()), "test", None)
        .expect("client TLS");
    let client = ClientBuilder::new(vec![broker.address.clone()])
        .tls_config(tls)
        .build()
        .await
        .expect("a TLS client");
    let partition = client
        .partition_client(app.topics.high.clone(), 0, UnknownTopicHandling::Retry)
        .await
        .expect("partition");
    let (records, _) = partition
        .fetch_records(0, 1..1_000_000, 1_000)
        .await
        .expect("fetch");
    let read: Vec<serde_json::Value> = records
        .iter()
        .map(|r| serde_json::from_slice(r.record.value.as_deref().expect("value")).expect("JSON"))
        .collect();
    assert_eq!(read, payloads);
}

/// Builds the service against `broker` with TLS trusting `ca_file`; the start-up error.
async fn start_up_error(broker: &str, ca_file: &Path) -> String {
    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let mut settings = test_settings(&dir, &unique_topics(), &sandbox.base_url());
    settings.kafka.brokers = vec![broker.to_string()];
    settings.kafka.tls.enabled = true;
    settings.kafka.tls.ca_file = ca_file.display().to_string();
    match Application::build(settings, BuildOptions::default()).await {
        Ok(_) => panic!("the service started against a broker it must not trust"),
        Err(e) => format!("{e:#}"),
    }
}

#[actix_rt::test]
async fn an_untrusted_certificate_or_a_wrong_name_stops_start_up_naming_kafka_tls() {
    let dir = temp_dir();
    let ca = test_ca(&dir, "test-ca");
    let other = test_ca(&dir, "other-ca");

    let (cert, key) = broker_certificate(&dir, &ca, &["127.0.0.1"]);
    let broker = tls_broker(&dir, &cert, &key).await;
    let untrusted = start_up_error(&broker.address, &other.file).await;
    assert!(untrusted.contains("kafka.tls"), "{untrusted}");
    assert!(untrusted.contains("not signed by a CA"), "{untrusted}");
    drop(broker);

    let named = temp_dir();
    let (cert, key) = broker_certificate(&named, &ca, &["broker.example"]);
    let broker = tls_broker(&named, &cert, &key).await;
    let wrong_name = start_up_error(&broker.address, &ca.file).await;
    assert!(wrong_name.contains("kafka.tls"), "{wrong_name}");
    assert!(
        wrong_name.contains("does not name 127.0.0.1"),
        "{wrong_name}"
    );
}
