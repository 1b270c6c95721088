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

#[actix_rt::test]
async fn the_supervision_view_shows_a_forced_restart_and_switchboard_status_prints_it() {
    let app = spawn_app().await;
    let (status, actors) = app.get("/actors").await;
    assert_eq!(status, 200, "{actors}");
    let list = actors.as_array().expect("a list");
    assert_eq!(list.len(), 9, "{actors}");
    for a in list {
        assert_eq!(a["answering"], true, "{a}");
        assert_eq!(a["restarts"], 0, "{a}");
        assert!(a["last_restart"].is_null(), "{a}");
    }
    let router = &list[0];
    assert_eq!(router["actor"], "KafkaRouterActor");
    assert_eq!(router["queue"], 0, "the router keeps a queue: {router}");
    assert!(list
        .iter()
        .any(|a| a["actor"] == "TokenActor" && a["queue"].is_null()));

    app.actors.acknowledger.do_send(StopActor);
    let restarted = eventually(Duration::from_secs(5), "the restart in /actors", || async {
        let (_, actors) = app.get("/actors").await;
        actors
            .as_array()?
            .iter()
            .find(|a| a["actor"] == "AcknowledgementActor" && a["restarts"] == 1)
            .cloned()
    })
    .await;
    assert_eq!(
        restarted["last_restart"]["cause"],
        "stopped on request (StopActor)"
    );
    assert!(restarted["last_restart"]["at"].is_string(), "{restarted}");
    let (_, actors) = app.get("/actors").await;
    let others_restarted = actors
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["actor"] != "AcknowledgementActor" && a["restarts"] != 0)
        .count();
    assert_eq!(others_restarted, 0, "{actors}");

    // On its own thread: this one runs the service's actors.
    let address = app.address.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["status", "--service", &address])
            .output()
    })
    .await
    .expect("joined")
    .expect("switchboard status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!("service {}: ready", app.address)),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("AcknowledgementActor"))
        .unwrap_or_else(|| panic!("no line for the acknowledger: {text}"));
    assert!(line.contains("stopped on request (StopActor)"), "{text}");
    assert!(
        line.split_whitespace().nth(1) == Some("1"),
        "restarts 1: {text}"
    );
}
