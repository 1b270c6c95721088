//! A webhook receiver bound on port 0 that records what the sandbox POSTs to it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;

use super::{eventually, serve_on_port_0};
use crate::executions::now_ms;

/// One POST the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The request path (`/hook/a`).
    pub path: String,
    /// The body as JSON (`null` if not JSON).
    pub body: Value,
    /// When it arrived, in Unix milliseconds.
    pub received_at_ms: u64,
}

#[derive(Debug, Default)]
struct Inner {
    deliveries: Vec<Delivery>,
    /// Answers 503 to this many POSTs before answering 200.
    failures_left: usize,
}

/// The receiver: base URL, what it got, and its server.
pub struct Receiver {
    base_url: String,
    inner: Arc<Mutex<Inner>>,
    handle: ServerHandle,
}

async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    inner: web::Data<Mutex<Inner>>,
) -> HttpResponse {
    let mut inner = inner.lock().expect("receiver state");
    inner.deliveries.push(Delivery {
        path: req.path().to_owned(),
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        received_at_ms: now_ms(),
    });
    if inner.failures_left > 0 {
        inner.failures_left -= 1;
        HttpResponse::ServiceUnavailable().finish()
    } else {
        HttpResponse::Ok().finish()
    }
}

impl Receiver {
    /// Binds a receiver on port 0 that answers 503 to its first `failures` POSTs, then 200.
    pub async fn spawn(failures: usize) -> Receiver {
        let inner = Arc::new(Mutex::new(Inner {
            deliveries: Vec::new(),
            failures_left: failures,
        }));
        let data = web::Data::from(inner.clone());
        let (port, handle) = serve_on_port_0(move |cfg| {
            cfg.app_data(data.clone())
                .default_service(web::post().to(receive));
        });
        Receiver {
            base_url: format!("http://127.0.0.1:{port}"),
            inner,
            handle,
        }
    }

    /// The URL of `path` on the receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Everything received so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner
            .lock()
            .expect("receiver state")
            .deliveries
            .clone()
    }

    /// Waits (up to 10 s) until `done` holds for the deliveries, and returns them.
    pub async fn wait_for(&self, done: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        let (timeout, interval) = (Duration::from_secs(10), Duration::from_millis(10));
        eventually(timeout, interval, "the deliveries", || {
            let deliveries = self.deliveries();
            let met = done(&deliveries);
            async move {
                if met {
                    Ok(deliveries)
                } else {
                    Err(deliveries)
                }
            }
        })
        .await
    }

    /// Stops the receiver.
    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}
