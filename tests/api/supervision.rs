//! A stopped actor is restarted by its supervisor and the endpoint serves again.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;
use switchboard_actors::StopActor;

use crate::helpers::{event, eventually, metric_value, spawn_app};

#[actix_rt::test]
async fn a_stopped_router_is_restarted_and_ingestion_serves_again() {
    let app = spawn_app().await;
    let (status, _) = app
        .post_event(&event("da-before", json!({"a": 1})), None)
        .await;
    assert_eq!(status, 200);
    let restarts = || async {
        let text = app.metrics_text().await?;
        Some(metric_value(
            &text,
            "switchboard_actor_restarts_total",
            &BTreeMap::from([("actor", "KafkaRouterActor")]),
        ))
    };
    let before = restarts().await.unwrap_or(0.0);
    app.actors.router.do_send(StopActor);
    app.actors.token.do_send(StopActor);
    app.actors.acknowledger.do_send(StopActor);
    eventually(Duration::from_secs(5), "a router restart", || async {
        restarts().await.filter(|n| *n > before)
    })
    .await;
    let (status, body) = app
        .post_event(&event("da-after", json!({"a": 2})), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "routed");
    app.wait_for_acks(
        &["da-before".into(), "da-after".into()],
        Duration::from_secs(10),
    )
    .await;
}
