//! Reading events: the service's one-pass reader ([`parse_event`]) next to serde_json on the
//! same bodies, in the same run, on one thread.
//!
//! Baselines: (1) serde_json into a borrowed struct with the payload as a `&RawValue`, the
//! fields and payload then made owned as a record needs them — the least a serde reader does
//! (grammar and the four fields, no duplicate-key, depth or spacing work; the reader before
//! the one-pass scan took this path for compact bodies, the payload kept as sent);
//! (2) serde_json into a `Value` tree and back to compact text — what a reader that re-serialises
//! does (and what the earlier slow path did for spaced bodies). Each is measured on the
//! bench's compact bodies and on the same events pretty-printed, best of five passes.

use std::hint::black_box;
use std::time::Instant;

use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard::routes::event::{parse_event, EventLimits};

use crate::events::Event;

/// Passes over all bodies per reader; the best is reported.
const PASSES: usize = 5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Borrowed<'a> {
    #[serde(rename = "dataActionId", borrow)]
    data_action_id: std::borrow::Cow<'a, str>,
    #[serde(rename = "eventType", default, borrow)]
    event_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    timestamp: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    payload: Option<&'a RawValue>,
}

/// Best nanoseconds per body of `read` over `bodies`.
fn best_ns(bodies: &[Vec<u8>], mut read: impl FnMut(&[u8]) -> bool) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..PASSES {
        let started = Instant::now();
        let mut ok = 0usize;
        for body in bodies {
            ok += usize::from(read(black_box(body)));
        }
        assert_eq!(ok, bodies.len(), "every bench body is a valid event");
        best = best.min(started.elapsed().as_nanos() as f64 / bodies.len() as f64);
    }
    best
}

/// Prints the table.
pub(crate) fn parse_costs(events: &[Event], limits: EventLimits) {
    let compact: Vec<Vec<u8>> = events.iter().map(|e| e.body.to_vec()).collect();
    let pretty: Vec<Vec<u8>> = compact
        .iter()
        .filter_map(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
        .filter_map(|v| serde_json::to_vec_pretty(&v).ok())
        .collect();
    println!();
    println!(
        "reading an event, ns per body (best of {PASSES} passes over {} bodies, one thread)",
        compact.len()
    );
    println!(
        "{:>10} {:>14} {:>16} {:>16} {:>10} {:>10}",
        "bodies", "parse_event", "serde borrowed", "serde Value", "/ borrowed", "/ Value"
    );
    for (name, bodies) in [("compact", &compact), ("pretty", &pretty)] {
        let ours = best_ns(bodies, |b| parse_event(b, limits).is_ok());
        let borrowed = best_ns(bodies, |b| {
            serde_json::from_slice::<Borrowed>(b)
                .map(|e| {
                    // The fields and the payload made owned, as a record needs them.
                    black_box((
                        e.data_action_id.into_owned(),
                        e.event_type.map(|t| t.into_owned()),
                        e.timestamp.map(|t| t.into_owned()),
                        e.payload.map(|p| p.get().to_string()),
                    ))
                })
                .is_ok()
        });
        let tree = best_ns(bodies, |b| {
            serde_json::from_slice::<serde_json::Value>(b)
                .map(|v| black_box(v["payload"].to_string()))
                .is_ok()
        });
        println!(
            "{name:>10} {ours:>14.0} {borrowed:>16.0} {tree:>16.0} {:>10.2} {:>10.2}",
            ours / borrowed,
            ours / tree
        );
    }
}
