//! TLS: the CXone client speaks TLS 1.2/1.3 to a local server whose self-signed certificate
//! the test trusts through `cxone.ca_file`, and refuses it when the certificate is not trusted.

use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpResponse, HttpServer};
use rcgen::{generate_simple_self_signed, CertifiedKey};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};

use crate::helpers::spawn_app_with;

/// A minimal CXone over https: token and definition creation, recording definitions.
struct TlsCxone {
    base_url: String,
    ca_pem: String,
    created: Arc<Mutex<Vec<Value>>>,
}

async fn start_tls_cxone() -> TlsCxone {
    let CertifiedKey { cert, signing_key } =
        generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("self-signed certificate");
    let cert_der: CertificateDer<'static> = cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(vec![cert_der], key)
    .expect("server config");
    let created: Arc<Mutex<Vec<Value>>> = Default::default();
    let shared = created.clone();
    let server = HttpServer::new(move || {
        let shared = shared.clone();
        App::new()
            .route(
                "/oauth/token",
                web::post().to(|| async {
                    HttpResponse::Ok().json(json!({"access_token": "tls-token", "token_type": "Bearer", "expires_in": 3600}))
                }),
            )
            .route(
                "/api/v2/data-actions",
                web::post().to(move |body: web::Json<Value>| {
                    let shared = shared.clone();
                    async move {
                        let mut created = body.into_inner();
                        created["id"] = json!("tls-1");
                        shared.lock().expect("lock").push(created.clone());
                        HttpResponse::Created().json(created)
                    }
                }),
            )
    })
    .workers(1)
    .disable_signals()
    .bind_rustls_0_23("127.0.0.1:0", config)
    .expect("bind tls");
    let port = server.addrs()[0].port();
    actix_rt::spawn(server.run());
    TlsCxone {
        base_url: format!("https://localhost:{port}"),
        ca_pem: cert.pem(),
        created,
    }
}

fn definition() -> Value {
    json!({
        "name": "Over TLS",
        "type": "REST",
        "configuration": {"method": "POST", "url": "https://api.example.com/x", "timeout": 1000}
    })
}

#[actix_rt::test]
async fn a_definition_is_created_over_https_against_a_server_whose_certificate_is_trusted() {
    let cxone = start_tls_cxone().await;
    let dir = crate::helpers::temp_dir();
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, &cxone.ca_pem).expect("ca file");
    let (base, ca) = (cxone.base_url.clone(), ca_file.display().to_string());
    let app = spawn_app_with(move |s| {
        s.cxone.base_url = base;
        s.cxone.ca_file = ca;
    })
    .await;
    let (status, body) = app.post_json("/data-actions", &definition(), &[]).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["id"], "tls-1");
    assert_eq!(cxone.created.lock().expect("lock").len(), 1);
}

#[actix_rt::test]
async fn an_untrusted_certificate_is_refused_and_nothing_is_created() {
    let cxone = start_tls_cxone().await;
    let base = cxone.base_url.clone();
    let app = spawn_app_with(move |s| s.cxone.base_url = base).await;
    let (status, body) = app.post_json("/data-actions", &definition(), &[]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (502, Some("upstream_unavailable")),
        "{body}"
    );
    assert!(cxone.created.lock().expect("lock").is_empty());
}
