//! `routing.dead_letter_topic`: an event no rule matches, or whose record the broker refuses
//! for good (a topic whose `max.message.bytes` is smaller than the record), lands on the
//! dead-letter topic with its headers and is answered `dead_lettered` once the broker
//! acknowledged it, while the records batched with it are routed; without the topic, 422
//! `no_route` and 503 `broker_unavailable` as before.

use serde_json::json;

use crate::helpers::{event, spawn_app_with, temp_dir, TestApp};

/// Rules with no catch-all: only `"priority": "high"` events are routed.
fn high_only(s: &mut switchboard::config::Settings, topic: &str) {
    let file = temp_dir().join("routes.toml");
    let rules = format!(
        "[[rules]]\npattern = '\"priority\"\\s*:\\s*\"high\"'\ntopic = \"{topic}\"\npartition = 0\n"
    );
    std::fs::write(&file, rules).expect("rules file");
    s.routing.rules_file = file.display().to_string();
}

fn header(record: &rskafka::record::Record, name: &str) -> String {
    String::from_utf8_lossy(record.headers.get(name).map_or(&[][..], Vec::as_slice)).into_owned()
}

async fn dead_lettered_count(app: &TestApp) -> String {
    let text = app.metrics_text().await.expect("metrics");
    text.lines()
        .find(|l| l.starts_with("switchboard_dead_lettered_total{reason=\"no_route\"}"))
        .unwrap_or_default()
        .to_string()
}

#[actix_rt::test]
async fn an_unroutable_event_lands_on_the_dead_letter_topic_with_its_headers() {
    let dead_letters = format!("sbt-{}-dead", uuid::Uuid::new_v4().simple());
    let topic = dead_letters.clone();
    let app = spawn_app_with(|s| {
        high_only(s, &format!("sbt-{}-high", uuid::Uuid::new_v4().simple()));
        s.routing.dead_letter_topic = topic.clone();
    })
    .await;
    let payload = json!({"priority": "low", "note": "no rule for me"});
    let body = event("da-unroutable", payload.clone());
    let (status, answer) = app.post_event(&body, Some("msg-dead-1")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "dead_lettered");
    assert_eq!(answer["topic"], dead_letters.as_str());
    assert_eq!(answer["partition"], 0);
    let offset = answer["offset"].as_i64().expect("offset");

    let records = app.read_partition(&dead_letters, 0, 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].offset, offset);
    let record = &records[0].record;
    assert_eq!(record.key.as_deref(), Some(&b"da-unroutable"[..]));
    let value: serde_json::Value =
        serde_json::from_slice(record.value.as_deref().expect("value")).expect("JSON");
    assert_eq!(value, payload);
    assert_eq!(header(record, "error"), "no_route");
    assert_eq!(
        header(record, "reason"),
        "no routing rule matches the event"
    );
    assert_eq!(header(record, "eventType"), "data_action.executed");
    assert_eq!(header(record, "timestamp"), "2026-11-21T10:00:00.000Z");
    assert!(
        dead_lettered_count(&app).await.ends_with(" 1"),
        "{}",
        dead_lettered_count(&app).await
    );

    // A redelivery is a duplicate: nothing more on the topic.
    let (status, answer) = app.post_event(&body, Some("msg-dead-1")).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(app.read_partition(&dead_letters, 0, 1).await.len(), 1);
}

#[actix_rt::test]
async fn without_a_dead_letter_topic_an_unroutable_event_is_refused_422() {
    let high = format!("sbt-{}-high", uuid::Uuid::new_v4().simple());
    let topic = high.clone();
    let app = spawn_app_with(|s| high_only(s, &topic)).await;
    let (status, answer) = app
        .post_event(
            &event("da-unroutable", json!({"priority": "low"})),
            Some("msg-dead-2"),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"], "no_route");
    assert!(app.read_partition(&high, 0, 0).await.is_empty());
}

/// A topic of one partition whose broker refuses records over 400 bytes.
fn small_topic() -> String {
    let topic = format!("sbt-{}-small", uuid::Uuid::new_v4().simple());
    let status = std::process::Command::new(crate::helpers::broker_bin())
        .args(["topic", "create", &topic, "--partitions", "1"])
        .args(["--broker", &format!("tcp://{}", crate::helpers::brokers())])
        .args(["--config", "max.message.bytes=400"])
        .status()
        .expect("nisshi topic create");
    assert!(status.success(), "the small topic is created");
    topic
}

/// Rules sending everything to `topic` partition 0.
fn everything_to(s: &mut switchboard::config::Settings, topic: &str) {
    let file = temp_dir().join("routes.toml");
    std::fs::write(
        &file,
        format!("[[rules]]\npattern = '.*'\ntopic = \"{topic}\"\npartition = 0\n"),
    )
    .expect("rules file");
    s.routing.rules_file = file.display().to_string();
}

#[actix_rt::test]
async fn a_record_the_broker_refuses_for_good_is_dead_lettered_and_its_batch_mates_routed() {
    let small = small_topic();
    let dead_letters = format!("sbt-{}-dead", uuid::Uuid::new_v4().simple());
    let (topic, dead) = (small.clone(), dead_letters.clone());
    let app = spawn_app_with(move |s| {
        everything_to(s, &topic);
        s.routing.dead_letter_topic = dead.clone();
        // Events wait for each other, so the big one shares a batch with small ones.
        s.kafka.linger_ms = 50;
    })
    .await;
    let big = json!({"n": 0, "blob": "x".repeat(2_000)});
    let mut posts = vec![(event("da-big", big.clone()), "msg-big".to_string())];
    for i in 1..6 {
        posts.push((
            event(&format!("da-small-{i}"), json!({"n": i})),
            format!("msg-small-{i}"),
        ));
    }
    let answers = futures::future::join_all(
        posts
            .iter()
            .map(|(body, id)| app.post_event(body, Some(id.as_str()))),
    )
    .await;
    let (status, answer) = &answers[0];
    assert_eq!(*status, 200, "{answer}");
    assert_eq!(answer["status"], "dead_lettered", "{answer}");
    assert_eq!(answer["topic"], dead_letters.as_str());
    for (status, answer) in &answers[1..] {
        assert_eq!(
            (*status, answer["status"].as_str()),
            (200, Some("routed")),
            "{answer}"
        );
    }
    assert_eq!(
        app.read_partition(&small, 0, 5).await.len(),
        5,
        "the small ones"
    );
    let records = app.read_partition(&dead_letters, 0, 1).await;
    assert_eq!(records.len(), 1);
    let record = &records[0].record;
    let value: serde_json::Value =
        serde_json::from_slice(record.value.as_deref().expect("value")).expect("JSON");
    assert_eq!(value, big);
    assert_eq!(header(record, "error"), "record_refused");
    assert!(
        header(record, "reason").contains("MessageTooLarge"),
        "{}",
        header(record, "reason")
    );
    assert_eq!(header(record, "eventType"), "data_action.executed");
}

#[actix_rt::test]
async fn without_a_dead_letter_topic_a_refused_record_is_answered_503_as_before() {
    let small = small_topic();
    let topic = small.clone();
    let app = spawn_app_with(move |s| everything_to(s, &topic)).await;
    let (status, answer) = app
        .post_event(
            &event("da-big", json!({"blob": "x".repeat(2_000)})),
            Some("msg-big-2"),
        )
        .await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(answer["error"], "broker_unavailable");
    assert!(app.read_partition(&small, 0, 0).await.is_empty());
}
