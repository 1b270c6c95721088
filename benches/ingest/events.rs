//! The seed-004 events every target sends, generated and serialised once.

use std::collections::BTreeMap;

use actix_web::web::Bytes;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rskafka::record::Record;
use serde_json::json;

use crate::LOREM;

/// One seed-004 event, serialised once.
pub(crate) struct Event {
    /// `dataActionId`: the record key.
    pub(crate) id: String,
    /// A unique `webhook-id` header.
    pub(crate) webhook_id: String,
    /// `timestamp`: a record header.
    pub(crate) timestamp: String,
    /// The payload serialised compactly: the record value.
    pub(crate) payload: String,
    /// The request body.
    pub(crate) body: Bytes,
    /// The partition the seed rules send it to (high → 0, eu-west → 1, else 2).
    pub(crate) partition: i32,
}

impl Event {
    /// The record the router would produce for this event.
    pub(crate) fn record(&self) -> Record {
        Record {
            key: Some(self.id.clone().into_bytes()),
            value: Some(self.payload.clone().into_bytes()),
            headers: BTreeMap::from([
                ("eventType".to_string(), b"data_action.executed".to_vec()),
                ("timestamp".to_string(), self.timestamp.clone().into_bytes()),
            ]),
            timestamp: chrono::Utc::now(),
        }
    }
}

/// `count` events: 20 % `"priority":"high"`, 30 % `"region":"eu-west"`, a compact payload of
/// about `payload_bytes` bytes. Deterministic apart from the ids.
pub(crate) fn generate_events(count: usize, payload_bytes: usize) -> anyhow::Result<Vec<Event>> {
    const SKILLS: [&str; 5] = ["billing", "support", "sales", "retention", "onboarding"];
    const REGIONS: [&str; 3] = ["us-east", "ap-south", "sa-east"];
    const CHANNELS: [&str; 4] = ["voice", "chat", "email", "sms"];
    let mut rng = StdRng::seed_from_u64(4);
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let id = uuid::Uuid::new_v4().to_string();
        let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let priority = if rng.random_bool(0.2) {
            "high"
        } else {
            "normal"
        };
        let region = if rng.random_bool(0.3) {
            "eu-west"
        } else {
            REGIONS[rng.random_range(0..REGIONS.len())]
        };
        let mut payload = json!({
            "priority": priority,
            "region": region,
            "contactId": format!("c-{:08}", rng.random_range(0..100_000_000u32)),
            "skill": SKILLS[rng.random_range(0..SKILLS.len())],
            "channel": CHANNELS[rng.random_range(0..CHANNELS.len())],
            "agentId": format!("a-{:05}", rng.random_range(0..100_000u32)),
            "attempt": rng.random_range(1..4u32),
            "sequence": i,
            "notes": "",
        });
        let bare = serde_json::to_string(&payload)?.len();
        let notes: String = LOREM
            .chars()
            .cycle()
            .take(payload_bytes.saturating_sub(bare))
            .collect();
        payload["notes"] = json!(notes);
        let compact = serde_json::to_string(&payload)?;
        let partition = if priority == "high" {
            0
        } else if region == "eu-west" {
            1
        } else {
            2
        };
        let body = serde_json::to_vec(&json!({
            "dataActionId": id,
            "eventType": "data_action.executed",
            "timestamp": timestamp,
            "payload": payload,
        }))?;
        out.push(Event {
            id,
            webhook_id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
            timestamp,
            payload: compact,
            body: Bytes::from(body),
            partition,
        });
    }
    Ok(out)
}
