//! `kafka.tls` and `kafka.sasl` against nisshi: events routed over TLS to a broker serving a
//! certificate of a test CA, and read back over TLS; a CA that did not sign the broker's
//! certificate, or a certificate that does not name the broker's host, stops start-up with a
//! message naming `kafka.tls`. SCRAM-SHA-256 and SCRAM-SHA-512 over TLS route events (the
//! service a `switchboard serve` process logging at debug, its password in no log line); a
//! wrong password stops start-up naming `kafka.sasl`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::ClientBuilder;
use serde_json::json;
use switchboard::startup::{Application, BuildOptions};

use crate::helpers::{
    broker_bin, event, eventually, serve_command, spawn_app_with, spawn_sandbox, spawn_service,
    temp_dir, test_settings, unique_topics, PrivateBroker,
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

/// A nisshi broker serving TLS only (`cert`, `key`), in memory.
async fn tls_broker(dir: &Path, cert: &Path, key: &Path) -> PrivateBroker {
    let args = [
        "--cert".as_ref(),
        cert.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
    ];
    PrivateBroker::start_in(dir, None, "memory://nisshi/", &args).await
}

/// SCRAM users of [`scram_broker`]: (mechanism, user, password).
const USERS: [(&str, &str, &str); 2] = [
    ("SCRAM-SHA-256", "alice", "wonderland-256-secret"),
    ("SCRAM-SHA-512", "bob", "builder-512-secret"),
];

/// A nisshi broker serving TLS with SASL authentication, its [`USERS`] kept in SQLite
/// storage in `dir`: made while it ran without authentication (as nisshi requires), then
/// restarted with it.
async fn scram_broker(dir: &Path, cert: &Path, key: &Path) -> PrivateBroker {
    let storage = "sqlite://broker.db";
    let open = PrivateBroker::start_in(dir, None, storage, &[]).await;
    for (mechanism, user, password) in USERS {
        let flag = if mechanism.ends_with("256") {
            "scram256"
        } else {
            "scram512"
        };
        let status = Command::new(broker_bin())
            .current_dir(dir)
            .args([
                "user",
                "create",
                "--broker",
                &format!("tcp://{}", open.address),
            ])
            .args(["--mechanism", flag, user, password])
            .status()
            .expect("nisshi user create");
        assert!(status.success(), "nisshi user create {user}");
    }
    drop(open);
    let args = [
        "--cert".as_ref(),
        cert.as_os_str(),
        "--key".as_ref(),
        key.as_os_str(),
        "--authentication".as_ref(),
    ];
    PrivateBroker::start_in(dir, None, storage, &args).await
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

/// `switchboard serve` against `broker` over TLS (trusting `ca_file`) with SASL `mechanism`,
/// logging at debug to `DIR/TAG.log`.
fn serve_with_sasl(
    dir: &Path,
    sandbox_url: &str,
    tag: &str,
    broker: &str,
    ca_file: &Path,
    (mechanism, user, password): (&str, &str, &str),
) -> (Command, u16) {
    let state = format!("sqlite://{}", dir.join(format!("{tag}.db")).display());
    let (mut command, port) = serve_command(dir, sandbox_url, tag, &state);
    command
        .env("SWITCHBOARD__KAFKA__BROKERS", broker)
        .env("SWITCHBOARD__KAFKA__TLS__ENABLED", "true")
        .env("SWITCHBOARD__KAFKA__TLS__CA_FILE", ca_file)
        .env("SWITCHBOARD__KAFKA__SASL__MECHANISM", mechanism)
        .env("SWITCHBOARD__KAFKA__SASL__USERNAME", user)
        .env("SWITCHBOARD__KAFKA__SASL__PASSWORD", password)
        .env("RUST_LOG", "debug");
    (command, port)
}

#[actix_rt::test]
async fn scram_over_tls_routes_events_and_the_password_is_in_no_log_line() {
    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let ca = test_ca(&dir, "test-ca");
    let (cert, key) = broker_certificate(&dir, &ca, &["127.0.0.1"]);
    let broker = scram_broker(&dir, &cert, &key).await;
    for user in USERS {
        let tag = user.1;
        let (command, port) = serve_with_sasl(
            &dir,
            &sandbox.base_url(),
            tag,
            &broker.address,
            &ca.file,
            user,
        );
        let service = spawn_service(command, port).await;
        let resp = awc::Client::new()
            .post(format!("{}/webhook/cxone/data-actions", service.address))
            .insert_header(("webhook-id", format!("msg-sasl-{tag}")))
            .send_json(&event(&format!("da-{tag}"), json!({"priority": "high"})))
            .await
            .expect("request");
        let (status, body) = crate::helpers::status_and_json(resp).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("routed")),
            "{}: {body}",
            user.0
        );
        drop(service);
        let log = std::fs::read_to_string(dir.join(format!("{tag}.log"))).expect("log");
        assert!(log.lines().count() > 10, "a debug log was written");
        assert!(
            !log.contains(user.2),
            "{}: the password is in the log",
            user.0
        );
    }
}

#[actix_rt::test]
async fn a_wrong_password_stops_start_up_naming_kafka_sasl() {
    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let ca = test_ca(&dir, "test-ca");
    let (cert, key) = broker_certificate(&dir, &ca, &["127.0.0.1"]);
    let broker = scram_broker(&dir, &cert, &key).await;
    let wrong = ("SCRAM-SHA-256", "alice", "not-the-password-of-alice");
    let (mut command, _) = serve_with_sasl(
        &dir,
        &sandbox.base_url(),
        "wrong",
        &broker.address,
        &ca.file,
        wrong,
    );
    let mut child = command.spawn().expect("switchboard serve");
    let status = eventually(Duration::from_secs(30), "start-up to stop", || {
        let exited = child.try_wait().expect("wait");
        async move { exited }
    })
    .await;
    assert!(!status.success(), "start-up must fail");
    let log = std::fs::read_to_string(dir.join("wrong.log")).expect("log");
    assert!(log.contains("kafka.sasl"), "{log}");
    assert!(!log.contains(wrong.2), "the password is in the log: {log}");
}

#[actix_rt::test]
async fn a_client_certificate_is_loaded_and_a_broken_one_stops_start_up_naming_its_key() {
    let dir = temp_dir();
    let ca = test_ca(&dir, "test-ca");
    let (cert, key) = broker_certificate(&dir, &ca, &["127.0.0.1"]);
    let broker = tls_broker(&dir, &cert, &key).await;
    // A client certificate of the same CA: loaded and presented when asked (nisshi does not ask).
    let client_dir = temp_dir();
    let (client_cert, client_key) = broker_certificate(&client_dir, &ca, &["switchboard"]);
    let with = |cert: &Path, key: Option<&Path>| {
        let (address, ca_file) = (broker.address.clone(), ca.file.clone());
        let (cert, key) = (cert.to_path_buf(), key.map(Path::to_path_buf));
        move |s: &mut switchboard::config::Settings| {
            s.kafka.brokers = vec![address.clone()];
            s.kafka.tls.enabled = true;
            s.kafka.tls.ca_file = ca_file.display().to_string();
            s.kafka.tls.cert_file = cert.display().to_string();
            s.kafka.tls.key_file = key
                .as_ref()
                .map(|k| k.display().to_string())
                .unwrap_or_default();
        }
    };
    let app = spawn_app_with(with(&client_cert, Some(&client_key))).await;
    let (status, body) = app
        .post_event(
            &event("da-mtls", json!({"priority": "high"})),
            Some("msg-mtls"),
        )
        .await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("routed")),
        "{body}"
    );

    let build = |adjust: Box<dyn Fn(&mut switchboard::config::Settings)>| async move {
        let sandbox = spawn_sandbox().await;
        let dir = temp_dir();
        let mut settings = test_settings(&dir, &unique_topics(), &sandbox.base_url());
        adjust(&mut settings);
        match Application::build(settings, BuildOptions::default()).await {
            Ok(_) => panic!("a broken client identity was accepted"),
            Err(e) => format!("{e:#}"),
        }
    };
    let alone = build(Box::new(with(&client_cert, None))).await;
    assert!(
        alone.contains("kafka.tls: cert_file and key_file go together"),
        "{alone}"
    );
    let garbage = client_dir.join("garbage.pem");
    std::fs::write(&garbage, "not a key").expect("garbage");
    let broken = build(Box::new(with(&client_cert, Some(&garbage)))).await;
    assert!(broken.contains("kafka.tls.key_file"), "{broken}");
}
