//! Deliveries signed by the Standard Webhooks reference library verify. Every delivery here is
//! signed with `standardwebhooks::Webhook`, never with the service's own code, and posted as
//! exactly the bytes that were signed.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::helpers::{event, spawn_app_with, TestApp};

/// A fresh `whsec_` secret: 24 random bytes, base64.
fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// One delivery: its `webhook-id`, `webhook-timestamp` and body.
struct Delivery {
    id: String,
    timestamp: i64,
    body: Vec<u8>,
}

impl Delivery {
    /// A new event (unique `dataActionId` and `webhook-id`) sent now.
    fn now() -> Delivery {
        Delivery::at(chrono::Utc::now().timestamp())
    }

    /// A new event sent at `timestamp` (unix seconds).
    fn at(timestamp: i64) -> Delivery {
        let id = uuid::Uuid::new_v4();
        let body = event(&format!("da-{id}"), json!({"priority": "low"}));
        Delivery {
            id: format!("msg_{}", id.simple()),
            timestamp,
            body: serde_json::to_vec(&body).expect("serialises"),
        }
    }

    /// The `webhook-signature` entry the reference library makes with `secret`.
    fn signed_by(&self, secret: &str) -> String {
        standardwebhooks::Webhook::new(secret)
            .expect("a whsec_ secret")
            .sign(&self.id, self.timestamp, &self.body)
            .expect("the reference library signs")
    }

    /// POSTs the body with `signature` (none: no `webhook-signature` header).
    async fn post(&self, app: &TestApp, signature: Option<&str>) -> (u16, Value) {
        self.post_body(app, &self.body, signature).await
    }

    /// POSTs `body` (perhaps not the signed one) with this delivery's headers.
    async fn post_body(&self, app: &TestApp, body: &[u8], signature: Option<&str>) -> (u16, Value) {
        let timestamp = self.timestamp.to_string();
        let mut headers = vec![
            ("webhook-id", self.id.as_str()),
            ("webhook-timestamp", timestamp.as_str()),
        ];
        if let Some(signature) = signature {
            headers.push(("webhook-signature", signature));
        }
        app.post_signed(body, &headers).await
    }
}

fn assert_routed((status, body): (u16, Value)) {
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "routed", "{body}");
}

fn assert_refused((status, body): (u16, Value)) {
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_signature", "{body}");
}

#[actix_rt::test]
async fn a_delivery_signed_with_the_whsec_secret_is_routed() {
    let secret = new_secret();
    let app = spawn_app_with(|s| s.routing.signing_secret = secret.clone()).await;
    let delivery = Delivery::now();
    assert_routed(
        delivery
            .post(&app, Some(&delivery.signed_by(&secret)))
            .await,
    );
}

#[actix_rt::test]
async fn during_a_rotation_deliveries_signed_by_the_old_or_the_new_secret_are_routed() {
    let (old, new) = (new_secret(), new_secret());
    let app = spawn_app_with(|s| {
        s.routing.signing_secret = old.clone();
        s.routing.signing_secrets = vec![new.clone()];
    })
    .await;
    let by_old = Delivery::now();
    assert_routed(by_old.post(&app, Some(&by_old.signed_by(&old))).await);
    let by_new = Delivery::now();
    assert_routed(by_new.post(&app, Some(&by_new.signed_by(&new))).await);
    let by_both = Delivery::now();
    let both = format!("{} {}", by_both.signed_by(&old), by_both.signed_by(&new));
    assert_routed(by_both.post(&app, Some(&both)).await);
}

#[actix_rt::test]
async fn with_both_secrets_in_the_list_either_signature_or_both_verify() {
    let (old, new, stranger) = (new_secret(), new_secret(), new_secret());
    let app = spawn_app_with(|s| s.routing.signing_secrets = vec![old.clone(), new.clone()]).await;
    let by_old = Delivery::now();
    assert_routed(by_old.post(&app, Some(&by_old.signed_by(&old))).await);
    let by_new = Delivery::now();
    assert_routed(by_new.post(&app, Some(&by_new.signed_by(&new))).await);
    // The sender's new signature first, then one the service cannot check.
    let mixed = Delivery::now();
    let header = format!("{} {}", mixed.signed_by(&new), mixed.signed_by(&stranger));
    assert_routed(mixed.post(&app, Some(&header)).await);
}

#[actix_rt::test]
async fn a_tampered_body_is_refused_with_401_invalid_signature() {
    let secret = new_secret();
    let app = spawn_app_with(|s| s.routing.signing_secret = secret.clone()).await;
    let delivery = Delivery::now();
    let signature = delivery.signed_by(&secret);
    let mut tampered: Value = serde_json::from_slice(&delivery.body).expect("json");
    tampered["payload"]["priority"] = json!("high");
    let tampered = serde_json::to_vec(&tampered).expect("serialises");
    assert_refused(delivery.post_body(&app, &tampered, Some(&signature)).await);
    // The same headers with the body as signed pass: only the body was wrong.
    assert_routed(delivery.post(&app, Some(&signature)).await);
}

#[actix_rt::test]
async fn a_delivery_signed_ten_minutes_ago_is_refused() {
    let secret = new_secret();
    let app = spawn_app_with(|s| s.routing.signing_secret = secret.clone()).await;
    let stale = Delivery::at(chrono::Utc::now().timestamp() - 600);
    assert_refused(stale.post(&app, Some(&stale.signed_by(&secret))).await);
    let future = Delivery::at(chrono::Utc::now().timestamp() + 600);
    assert_refused(future.post(&app, Some(&future.signed_by(&secret))).await);
}

#[actix_rt::test]
async fn a_delivery_signed_with_an_unknown_secret_is_refused() {
    let (secret, unknown) = (new_secret(), new_secret());
    let app = spawn_app_with(|s| s.routing.signing_secret = secret.clone()).await;
    let delivery = Delivery::now();
    assert_refused(
        delivery
            .post(&app, Some(&delivery.signed_by(&unknown)))
            .await,
    );
}

#[actix_rt::test]
async fn a_delivery_without_a_signature_header_is_refused() {
    let secret = new_secret();
    let app = spawn_app_with(|s| s.routing.signing_secret = secret.clone()).await;
    let delivery = Delivery::now();
    assert_refused(delivery.post(&app, None).await);
}
