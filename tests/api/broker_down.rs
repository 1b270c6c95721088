//! With the broker stopped, ingestion answers 503 (never 200) within the produce timeout.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{event, eventually, spawn_app_with};

/// A private broker (nisshi, the project's) on a free port, killed on drop.
struct PrivateBroker {
    child: Child,
    port: u16,
}

impl PrivateBroker {
    async fn start() -> PrivateBroker {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = crate::helpers::temp_dir();
        std::fs::write(dir.join(".env"), "").expect(".env");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(crate::helpers::broker_bin())
            .current_dir(&dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://nisshi/"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nisshi starts (run the tests through scripts/test.sh)");
        eventually(
            Duration::from_secs(10),
            "the private broker to listen",
            || async {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        PrivateBroker { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[actix_rt::test]
async fn with_the_broker_stopped_ingestion_answers_503_within_the_produce_timeout() {
    let mut broker = PrivateBroker::start().await;
    let port = broker.port;
    let app = spawn_app_with(move |s| {
        s.kafka.brokers = vec![format!("127.0.0.1:{port}")];
        s.kafka.produce_timeout_ms = 1500;
    })
    .await;
    let (status, body) = app.post_event(&event("da-up", json!({"a": 1})), None).await;
    assert_eq!(status, 200, "{body}");

    broker.stop();
    for i in 0..3 {
        let started = Instant::now();
        let (status, body) = app
            .post_event(&event(&format!("da-down-{i}"), json!({"a": i})), None)
            .await;
        let elapsed = started.elapsed();
        assert_eq!(status, 503, "never 200 for a record not in Kafka: {body}");
        assert!(
            ["broker_timeout", "broker_unavailable"]
                .contains(&body["error"].as_str().unwrap_or("")),
            "{body}"
        );
        assert!(
            elapsed <= Duration::from_millis(1500 + 1000),
            "answered within the produce timeout (+1 s slack), took {elapsed:?}"
        );
    }
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "not_ready");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("broker")),
        "{body}"
    );
}

#[actix_rt::test]
async fn a_full_router_queue_answers_503_queue_full_at_once() {
    let mut broker = PrivateBroker::start().await;
    let port = broker.port;
    let app = spawn_app_with(move |s| {
        s.kafka.brokers = vec![format!("127.0.0.1:{port}")];
        s.kafka.produce_timeout_ms = 2000;
        s.kafka.queue_capacity = 1;
    })
    .await;
    assert_eq!(
        app.post_event(&event("da-warm", json!({})), None).await.0,
        200
    );
    broker.stop();
    // The broker is gone: the one admitted record holds the only queue slot until its produce
    // timeout, so every other concurrent event is refused at once.
    let posts = (0..5).map(|i| {
        let app = &app;
        async move {
            app.post_event(&event(&format!("da-q{i}"), json!({"i": i})), None)
                .await
        }
    });
    let answers = futures::future::join_all(posts).await;
    assert!(answers.iter().all(|(s, _)| *s == 503), "{answers:?}");
    let full = answers
        .iter()
        .filter(|(_, b)| b["error"] == "queue_full")
        .count();
    assert_eq!(full, 4, "one admitted, four refused: {answers:?}");
}
