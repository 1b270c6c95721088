//! Data Action webhook events as CXone sends them (seed 004); [`crate::signing`] signs them.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::{Builder, Uuid};

/// The event types an emitted event carries, chosen uniformly.
pub const EVENT_TYPES: [&str; 3] = [
    "data_action.executed",
    "data_action.updated",
    "data_action.completed",
];

/// Skills an event's payload names, chosen uniformly.
pub const SKILLS: [&str; 5] = ["billing", "sales", "support", "retention", "onboarding"];

/// Channels an event's payload names, chosen uniformly; also the channels of export
/// records from a report's drift offset on ([`reports`](super::reports)).
pub const CHANNELS: [&str; 4] = ["voice", "chat", "email", "sms"];

/// Regions an event's payload names, weighted 30% / 40% / 30% in this order; also the
/// regions of export records before a report's drift offset, chosen uniformly there
/// ([`reports`](super::reports)).
pub const REGIONS: [&str; 3] = ["eu-west", "us-east", "ap-southeast"];

/// One generated webhook delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedEvent {
    /// The Standard Webhooks `webhook-id`: `msg_<uuid>`, unique per event.
    pub webhook_id: String,
    /// The event: `{"dataActionId": uuid v4, "eventType", "timestamp": RFC 3339 UTC with
    /// millis, "payload": {"contactId": number, "priority": "high"|"normal"|"low",
    /// "region": "eu-west"|"us-east"|"ap-southeast", "skill", "channel"}}`.
    pub event: Value,
}

/// Generates Data Action webhook events: about 20% `priority: high` (50% normal, 30% low)
/// and about 30% `region: eu-west` (40% us-east, 30% ap-southeast).
///
/// With a seed every generated value is deterministic, except the timestamp passed in.
#[derive(Debug, Clone)]
pub struct EventGenerator {
    rng: StdRng,
}

impl EventGenerator {
    /// A generator seeded with `seed` (deterministic) or from the OS (`None`).
    pub fn new(seed: Option<u64>) -> EventGenerator {
        let rng = match seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        EventGenerator { rng }
    }

    fn uuid(&mut self) -> Uuid {
        Builder::from_random_bytes(self.rng.random()).into_uuid()
    }

    fn pick<'a>(&mut self, choices: &[&'a str]) -> &'a str {
        choices[self.rng.random_range(0..choices.len())]
    }

    /// The next event, stamped with `timestamp`.
    pub fn next_event(&mut self, timestamp: DateTime<Utc>) -> GeneratedEvent {
        let webhook_id = format!("msg_{}", self.uuid().simple());
        let data_action_id = self.uuid();
        let event_type = self.pick(&EVENT_TYPES);
        let contact_id: u64 = self.rng.random_range(100_000_000..1_000_000_000);
        let priority = match self.rng.random_range(0..100u32) {
            0..20 => "high",
            20..70 => "normal",
            _ => "low",
        };
        let region = match self.rng.random_range(0..100u32) {
            0..30 => REGIONS[0],
            30..70 => REGIONS[1],
            _ => REGIONS[2],
        };
        let skill = self.pick(&SKILLS);
        let channel = self.pick(&CHANNELS);
        let event = json!({
            "dataActionId": data_action_id.to_string(),
            "eventType": event_type,
            "timestamp": timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            "payload": {
                "contactId": contact_id,
                "priority": priority,
                "region": region,
                "skill": skill,
                "channel": channel,
            },
        });
        GeneratedEvent { webhook_id, event }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn stamp() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    #[test]
    fn events_have_the_seed_004_shape() {
        let generated = EventGenerator::new(Some(1)).next_event(stamp());
        let event = &generated.event;
        let id = event["dataActionId"].as_str().expect("string id");
        assert_eq!(Uuid::parse_str(id).expect("uuid").get_version_num(), 4);
        assert!(EVENT_TYPES.contains(&event["eventType"].as_str().expect("type")));
        assert_eq!(event["timestamp"], "2024-05-06T07:08:09.123Z");
        assert!(event["payload"]["contactId"].is_u64());
        for key in ["priority", "region", "skill", "channel"] {
            assert!(event["payload"][key].is_string(), "{key}");
        }
        assert!(generated.webhook_id.starts_with("msg_"));
        let keys: Vec<&String> = event.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["dataActionId", "eventType", "timestamp", "payload"]);
    }

    #[test]
    fn the_same_seed_generates_the_same_events() {
        let mut a = EventGenerator::new(Some(42));
        let mut b = EventGenerator::new(Some(42));
        let mut c = EventGenerator::new(Some(43));
        for _ in 0..50 {
            let (x, y, z) = (
                a.next_event(stamp()),
                b.next_event(stamp()),
                c.next_event(stamp()),
            );
            assert_eq!(x, y);
            assert_ne!(x.event["dataActionId"], z.event["dataActionId"]);
        }
    }

    #[test]
    fn the_priority_and_region_mix_is_about_twenty_and_thirty_percent() {
        let mut generator = EventGenerator::new(Some(7));
        let n = 10_000;
        let (mut high, mut eu, mut ids) = (0, 0, HashSet::new());
        for _ in 0..n {
            let generated = generator.next_event(stamp());
            high += usize::from(generated.event["payload"]["priority"] == "high");
            eu += usize::from(generated.event["payload"]["region"] == "eu-west");
            ids.insert(generated.webhook_id);
        }
        assert!((1_800..2_200).contains(&high), "high = {high}");
        assert!((2_750..3_250).contains(&eu), "eu-west = {eu}");
        assert_eq!(ids.len(), n, "webhook ids are unique");
    }

    #[test]
    fn unseeded_generators_differ() {
        let a = EventGenerator::new(None).next_event(stamp());
        let b = EventGenerator::new(None).next_event(stamp());
        assert_ne!(a.event["dataActionId"], b.event["dataActionId"]);
    }
}
