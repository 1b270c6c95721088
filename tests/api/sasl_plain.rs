//! `kafka.sasl.mechanism = "PLAIN"`: no broker here serves PLAIN, so a fake broker speaks the
//! Kafka protocol up to the authentication and records what the client sends: the exchange
//! must be RFC 4616's `\0username\0password` in a `SaslAuthenticate` request, after a
//! `SaslHandshake` asking for `PLAIN`; refused, start-up stops naming `kafka.sasl`.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use switchboard::startup::{Application, BuildOptions};

use crate::helpers::{spawn_sandbox, temp_dir, test_settings, unique_topics};

/// What the fake broker saw: the mechanism asked for, and the authentication bytes.
#[derive(Default, Debug)]
struct Seen {
    mechanism: Option<String>,
    auth_bytes: Option<Vec<u8>>,
}

fn int16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

fn int32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Answers one connection: ApiVersions (in the version asked), SaslHandshake v0/v1 offering
/// PLAIN, SaslAuthenticate v0 refused with SASL_AUTHENTICATION_FAILED (58).
async fn serve(mut conn: TcpStream, seen: Arc<Mutex<Seen>>) {
    loop {
        let mut len = [0u8; 4];
        if conn.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut req = vec![0u8; i32::from_be_bytes(len) as usize];
        if conn.read_exact(&mut req).await.is_err() {
            return;
        }
        let (key, version, correlation) = (int16(&req, 0), int16(&req, 2), int32(&req, 4));
        // The client id (a nullable string) follows in every request header used here.
        let client_id_len = int16(&req, 8).max(0) as usize;
        let body_at = 10 + client_id_len;
        let mut resp = correlation.to_be_bytes().to_vec();
        match key {
            18 => {
                // ApiVersions: keys 18 (0..3), 17 SaslHandshake (0..1), 36 SaslAuthenticate (0..0).
                let keys: [(i16, i16, i16); 3] = [(18, 0, 3), (17, 0, 1), (36, 0, 0)];
                resp.extend(0i16.to_be_bytes());
                if version >= 3 {
                    resp.push(keys.len() as u8 + 1);
                    for (k, min, max) in keys {
                        resp.extend(k.to_be_bytes());
                        resp.extend(min.to_be_bytes());
                        resp.extend(max.to_be_bytes());
                        resp.push(0);
                    }
                    resp.extend(0i32.to_be_bytes());
                    resp.push(0);
                } else {
                    resp.extend((keys.len() as i32).to_be_bytes());
                    for (k, min, max) in keys {
                        resp.extend(k.to_be_bytes());
                        resp.extend(min.to_be_bytes());
                        resp.extend(max.to_be_bytes());
                    }
                    if version >= 1 {
                        resp.extend(0i32.to_be_bytes());
                    }
                }
            }
            17 => {
                let n = int16(&req, body_at) as usize;
                let mechanism = String::from_utf8_lossy(&req[body_at + 2..body_at + 2 + n]);
                seen.lock().expect("lock").mechanism = Some(mechanism.into_owned());
                resp.extend(0i16.to_be_bytes());
                resp.extend(1i32.to_be_bytes());
                resp.extend(5i16.to_be_bytes());
                resp.extend(b"PLAIN");
            }
            36 => {
                let n = int32(&req, body_at) as usize;
                let bytes = req[body_at + 4..body_at + 4 + n].to_vec();
                seen.lock().expect("lock").auth_bytes = Some(bytes);
                let message = b"Authentication failed: invalid credentials";
                resp.extend(58i16.to_be_bytes());
                resp.extend((message.len() as i16).to_be_bytes());
                resp.extend(message);
                resp.extend(0i32.to_be_bytes());
            }
            _ => return,
        }
        let mut frame = (resp.len() as i32).to_be_bytes().to_vec();
        frame.extend(resp);
        if conn.write_all(&frame).await.is_err() {
            return;
        }
    }
}

#[actix_rt::test]
async fn plain_sends_the_rfc_4616_exchange_and_a_refusal_names_kafka_sasl() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address").to_string();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(serve(conn, shared.clone()));
        }
    });

    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let mut settings = test_settings(&dir, &unique_topics(), &sandbox.base_url());
    settings.kafka.brokers = vec![address];
    settings.kafka.sasl.mechanism = switchboard_actors::settings::SaslMechanism::Plain;
    settings.kafka.sasl.username = "api-key".into();
    settings.kafka.sasl.password = "api-secret/with=odd+chars".into();
    let error = match Application::build(settings, BuildOptions::default()).await {
        Ok(_) => panic!("the fake broker refuses every authentication"),
        Err(e) => format!("{e:#}"),
    };
    assert!(error.contains("kafka.sasl (PLAIN)"), "{error}");
    assert!(
        !error.contains("api-secret"),
        "the password is in the error: {error}"
    );
    let seen = seen.lock().expect("lock");
    assert_eq!(seen.mechanism.as_deref(), Some("PLAIN"), "{seen:?}");
    assert_eq!(
        seen.auth_bytes.as_deref(),
        Some(&b"\0api-key\0api-secret/with=odd+chars"[..]),
        "{seen:?}"
    );
}
