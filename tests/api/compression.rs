//! `kafka.compression`: with each codec, the records a batch carries are read back equal to
//! the payloads — by rskafka and by the broker's own consumer (`nisshi cat consume`), a Kafka
//! client that shares no code with the service.

use std::process::Command;

use serde_json::{json, Value};
use switchboard_actors::settings::KafkaCompression;

use crate::helpers::{broker_bin, brokers, event, spawn_app_with};

/// The values `nisshi cat consume` prints for `topic` partition `partition`.
fn consumed_by_broker_cli(topic: &str, partition: i32) -> String {
    let out = Command::new(broker_bin())
        .args(["cat", "consume", topic])
        .args(["--broker", &format!("tcp://{}", brokers())])
        .args(["--partition", &partition.to_string()])
        .args(["--max-wait-time-ms", "500"])
        .output()
        .expect("nisshi cat consume runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[actix_rt::test]
async fn each_codec_carries_the_payloads_to_any_consumer() {
    for codec in [
        KafkaCompression::None,
        KafkaCompression::Gzip,
        KafkaCompression::Lz4,
        KafkaCompression::Snappy,
        KafkaCompression::Zstd,
    ] {
        let app = spawn_app_with(|s| s.kafka.compression = codec).await;
        let payloads: Vec<Value> = (0..20)
            .map(|i| json!({"priority": "high", "n": i, "codec": codec.to_string(), "text": "x".repeat(200)}))
            .collect();
        for (i, p) in payloads.iter().enumerate() {
            let (status, body) = app
                .post_event(
                    &event(&format!("da-{codec}-{i}"), p.clone()),
                    Some(&format!("msg-{codec}-{i}")),
                )
                .await;
            assert_eq!(status, 200, "{codec}: {body}");
        }
        let topic = app.topics.high.clone();
        let records = app.read_partition(&topic, 0, payloads.len()).await;
        let read: Vec<Value> = records
            .iter()
            .map(|r| {
                serde_json::from_slice(r.record.value.as_deref().expect("value"))
                    .expect("JSON value")
            })
            .collect();
        assert_eq!(read, payloads, "{codec}: rskafka reads the payloads back");
        let printed = consumed_by_broker_cli(&topic, 0);
        for p in &payloads {
            assert!(
                printed.contains(&format!("\"n\":{},", p["n"])),
                "{codec}: nisshi's consumer does not show record {}: {printed}",
                p["n"]
            );
        }
    }
}
