//! Several replicas sharing one PostgreSQL state store (the test command's server, a new
//! database per test).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use switchboard_actors::settings::DedupeMode;

use crate::helpers::{
    brokers, event, postgres_database, read_partition, spawn_replicas, spawn_sandbox,
    status_and_json, unique_topics,
};

/// POSTs `events` to `address` (32 in flight), each with its own `webhook-id`; the answers'
/// `status` fields counted.
async fn post_all(address: &str, events: &[(String, Value)]) -> BTreeMap<String, usize> {
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let answers: Vec<(u16, Value)> = futures::stream::iter(events.iter())
        .map(|(id, body)| {
            let req = http
                .post(format!("{address}/webhook/cxone/data-actions"))
                .insert_header(("Content-Type", "application/json"))
                .insert_header(("webhook-id", id.as_str()));
            async move { status_and_json(req.send_json(body).await.expect("request")).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut counts = BTreeMap::new();
    for (status, body) in answers {
        let key = match body["status"].as_str() {
            Some(s) if status == 200 => s.to_string(),
            _ => format!("{status} {}", body["error"].as_str().unwrap_or("")),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

#[actix_rt::test]
async fn with_shared_dedupe_a_redelivery_to_another_replica_is_a_duplicate_and_produces_nothing() {
    let sandbox = spawn_sandbox().await;
    let state_url = postgres_database().await;
    let topics = unique_topics();
    let replicas = spawn_replicas(2, &sandbox.base_url(), &topics, |s| {
        s.state.url = state_url.clone();
        s.routing.dedupe = DedupeMode::Shared;
    })
    .await;
    let (a_address, b_address) = (&replicas[0].address, &replicas[1].address);

    let events: Vec<(String, Value)> = (0..1_000)
        .map(|i| {
            let id = format!("msg_shared_{i}");
            (
                id,
                event(
                    &format!("da-shared-{i}"),
                    json!({"priority": "high", "n": i}),
                ),
            )
        })
        .collect();
    let first = post_all(a_address, &events).await;
    assert_eq!(
        first,
        BTreeMap::from([("routed".to_string(), 1_000)]),
        "{first:?}"
    );
    let again = post_all(b_address, &events).await;
    assert_eq!(
        again,
        BTreeMap::from([("duplicate".to_string(), 1_000)]),
        "{again:?}"
    );

    let records = read_partition(&brokers(), &topics.high, 0, 1_000).await;
    assert_eq!(
        records.len(),
        1_000,
        "one record per event, none for the redeliveries"
    );
    // And A itself still knows them (its own window, and the shared one).
    let once_more = post_all(a_address, &events[..10]).await;
    assert_eq!(once_more, BTreeMap::from([("duplicate".to_string(), 10)]));
}

#[actix_rt::test]
async fn with_memory_dedupe_the_other_replica_does_not_know_the_event() {
    // The control: without the shared window the same redeliveries are produced again, so
    // the test above can fail.
    let sandbox = spawn_sandbox().await;
    let topics = unique_topics();
    let replicas = spawn_replicas(2, &sandbox.base_url(), &topics, |_| {}).await;
    let (a_address, b_address) = (&replicas[0].address, &replicas[1].address);
    let events: Vec<(String, Value)> = (0..20)
        .map(|i| {
            (
                format!("msg_mem_{i}"),
                event(&format!("da-mem-{i}"), json!({"priority": "high"})),
            )
        })
        .collect();
    assert_eq!(post_all(a_address, &events).await["routed"], 20);
    assert_eq!(post_all(b_address, &events).await["routed"], 20);
}
