//! With the broker stopped, ingestion answers 503 (never 200) within the produce timeout; a
//! broker restarted with empty storage is routed to again without an operator.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{event, read_partition, spawn_app_with, PrivateBroker};

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
    // Counted by reason (the answers' codes), for dashboards.
    let text = app.metrics_text().await.expect("metrics");
    let counted: f64 = ["broker_timeout", "broker_unavailable"]
        .iter()
        .map(|reason| {
            crate::helpers::metric_value(
                &text,
                "switchboard_unavailable_total",
                &std::collections::BTreeMap::from([("reason", *reason)]),
            )
        })
        .sum();
    assert!(counted >= 3.0, "503s by reason: {counted}");
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

#[actix_rt::test]
async fn a_broker_restarted_with_empty_storage_is_routed_to_again_by_itself() {
    let mut broker = PrivateBroker::start().await;
    let port = broker.port;
    let app = spawn_app_with(move |s| {
        s.kafka.brokers = vec![format!("127.0.0.1:{port}")];
        s.kafka.produce_timeout_ms = 3000;
    })
    .await;
    let high = |i: usize| event(&format!("da-r{i}"), json!({"priority": "high", "i": i}));
    let (status, body) = app.post_event(&high(0), Some("msg-r0")).await;
    assert_eq!(status, 200, "{body}");

    // The broker comes back on the same port with none of its topics.
    broker.stop();
    let _broker = PrivateBroker::start_on_port(Some(port)).await;
    let restarted = Instant::now();
    let mut routed = Vec::new();
    let mut i = 1;
    while routed.is_empty() {
        assert!(
            restarted.elapsed() < Duration::from_secs(20),
            "the service never routed again after the broker lost its topics"
        );
        let (status, body) = app.post_event(&high(i), Some(&format!("msg-r{i}"))).await;
        if status == 200 {
            routed.push((i, body["offset"].as_i64().expect("offset")));
        } else {
            assert_eq!(status, 503, "{body}");
        }
        i += 1;
    }
    let recovered_after = restarted.elapsed();
    for j in i..i + 5 {
        let (status, body) = app.post_event(&high(j), Some(&format!("msg-r{j}"))).await;
        assert_eq!(status, 200, "{body}");
        routed.push((j, body["offset"].as_i64().expect("offset")));
    }
    // Every event answered 200 since the restart is in the recreated topic.
    let address = format!("127.0.0.1:{port}");
    let records = read_partition(&address, &app.topics.high, 0, routed.len()).await;
    let in_kafka: Vec<(i64, serde_json::Value)> = records
        .iter()
        .map(|r| {
            let value = r.record.value.as_deref().expect("value");
            (r.offset, serde_json::from_slice(value).expect("JSON"))
        })
        .collect();
    for (i, offset) in &routed {
        assert!(
            in_kafka.iter().any(|(o, v)| o == offset && v["i"] == *i),
            "event {i} answered 200 at offset {offset} is not in Kafka: {in_kafka:?}"
        );
    }
    assert!(
        recovered_after < Duration::from_secs(10),
        "routed again {recovered_after:?} after the restart"
    );
}

#[actix_rt::test]
async fn a_routed_topic_the_broker_lost_is_created_again() {
    use switchboard_actors::router::{KafkaConnection, RuleSet};
    let broker = PrivateBroker::start().await;
    let address = format!("127.0.0.1:{}", broker.port);
    let dir = crate::helpers::temp_dir();
    let topics = crate::helpers::unique_topics();
    let mut settings = crate::helpers::test_settings(&dir, &topics, "http://127.0.0.1:1");
    settings.kafka.brokers = vec![address.clone()];
    let rules = RuleSet::load(&settings.routing.rules_file, None).expect("rules");
    let kafka = KafkaConnection::connect(&settings.kafka, &rules, None)
        .await
        .expect("connects and creates the routed topics");
    assert_eq!(
        kafka.repair_topics().await.expect("check"),
        Vec::<String>::new()
    );

    // The broker loses one topic (deleted, as a restart with empty storage would).
    let client = rskafka::client::ClientBuilder::new(vec![address])
        .build()
        .await
        .expect("client");
    client
        .controller_client()
        .expect("controller")
        .delete_topic(topics.eu.clone(), 5_000)
        .await
        .expect("delete");
    // Readiness names it meanwhile.
    let missing = kafka.check().await.expect_err("a routed topic is missing");
    assert!(
        missing.to_string().contains(&topics.eu),
        "readiness names the lost topic: {missing}"
    );
    assert_eq!(
        kafka.repair_topics().await.expect("repair"),
        vec![topics.eu.clone()],
        "the lost topic is created again, and only it"
    );
    assert!(kafka.check().await.is_ok(), "ready again");
    let listed = client.list_topics().await.expect("topics");
    assert!(listed
        .iter()
        .any(|t| t.name == topics.eu && t.partitions.len() == 3));
}
