//! The dedupe window: event keys seen within `routing.dedupe_window_secs`, at most
//! `routing.dedupe_capacity` of them (oldest forgotten first). Behind [`DedupeStore`] so a
//! shared store can replace the local one when switchboard runs as several replicas.
//!
//! A key is a [`DedupeKey`]: 16 bytes of SHA-256 over the delivery's identity, computed by
//! the HTTP worker that received it. The window stores no strings: a key costs 72 bytes
//! (its map slot and its eviction-queue slot) plus the containers' spare capacity, whatever
//! the sender's ids look like, and looking one up allocates nothing.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// The identity of a delivery, as the dedupe window remembers it: the first 16 bytes of a
/// SHA-256 digest. Two deliveries get the same key only when their identities are equal (a
/// collision of 128 bits of SHA-256 is not a practical concern, and the digest cannot be
/// steered towards another event's key), and the same identity gives the same key in every
/// process, so a store shared by replicas can use it as is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DedupeKey(pub [u8; 16]);

impl DedupeKey {
    /// The key of a delivery carrying a `webhook-id` header (Standard Webhooks): the id alone.
    pub fn webhook_id(id: &str) -> Self {
        Self::digest(b"wh", &[id])
    }

    /// The key of a delivery without a `webhook-id`: `dataActionId` + `eventType` +
    /// `timestamp` (seed 004). Each part is length-prefixed, so no choice of values can make
    /// two different triples hash the same input.
    pub fn event(data_action_id: &str, event_type: &str, timestamp: &str) -> Self {
        Self::digest(b"ev", &[data_action_id, event_type, timestamp])
    }

    fn digest(domain: &[u8], parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        h.update(domain);
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let mut key = [0u8; 16];
        key.copy_from_slice(&h.finalize()[..16]);
        DedupeKey(key)
    }
}

/// What the window knows of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A delivery of this event is being produced right now.
    InFlight,
    /// This event is in Kafka.
    Routed,
}

/// A dedupe window.
pub trait DedupeStore: Send {
    /// The key's state if remembered; otherwise remembers it as [`Seen::InFlight`] and
    /// returns `None` (the caller now owns the delivery).
    fn check_and_reserve(&mut self, key: DedupeKey, now: Instant) -> Option<Seen>;
    /// The delivery of `key` reached Kafka.
    fn confirm(&mut self, key: DedupeKey);
    /// The delivery of `key` failed: forget it so a redelivery is produced.
    fn release(&mut self, key: DedupeKey);
    /// Forgets every in-flight key (their deliveries were abandoned, e.g. on restart).
    fn release_in_flight(&mut self);
    /// Keys remembered.
    fn len(&self) -> usize;
    /// Whether no key is remembered.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The in-process dedupe window.
pub struct MemoryDedupe {
    window: Duration,
    capacity: usize,
    entries: HashMap<DedupeKey, (Seen, Instant)>,
    /// Keys in the order they were reserved, with the time they were; a slot whose key was
    /// released or reserved again since is stale and skipped when it reaches the front.
    order: VecDeque<(Instant, DedupeKey)>,
}

impl MemoryDedupe {
    /// A window remembering keys for `window`, at most `capacity` (at least 1) of them.
    pub fn new(window: Duration, capacity: usize) -> Self {
        MemoryDedupe {
            window,
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Forgets keys from the front of the queue while the front slot has expired or the
    /// window holds more than its capacity. The front slot's age is read before its key is
    /// looked up, so a call with nothing to forget touches no map slot.
    fn evict(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.order.front() {
            let expired = now.saturating_duration_since(at) >= self.window;
            // Stale slots count too, so the queue stays bounded when many keys are released
            // (refusals, failed produces) long before their slots reach the front.
            let over = self.entries.len() > self.capacity || self.order.len() > 2 * self.capacity;
            if !(expired || over) {
                break;
            }
            // Forget the key only if the slot is its own reservation; a slot whose key was
            // released or reserved again since is stale and just dropped.
            if let Entry::Occupied(e) = self.entries.entry(key) {
                if e.get().1 == at {
                    e.remove();
                }
            }
            self.order.pop_front();
        }
    }
}

impl DedupeStore for MemoryDedupe {
    fn check_and_reserve(&mut self, key: DedupeKey, now: Instant) -> Option<Seen> {
        // One lookup decides and reserves; eviction follows the insertion, so a hit evicts
        // nothing and the window never holds more than its capacity after a call.
        match self.entries.entry(key) {
            Entry::Occupied(mut e) => {
                let (seen, at) = *e.get();
                if now.saturating_duration_since(at) < self.window {
                    return Some(seen);
                }
                e.insert((Seen::InFlight, now));
            }
            Entry::Vacant(e) => {
                e.insert((Seen::InFlight, now));
            }
        }
        self.order.push_back((now, key));
        self.evict(now);
        None
    }

    fn confirm(&mut self, key: DedupeKey) {
        if let Some((seen, _)) = self.entries.get_mut(&key) {
            *seen = Seen::Routed;
        }
    }

    fn release(&mut self, key: DedupeKey) {
        // A key released right after its reservation (a refused event) also gives back its
        // slot; older slots go stale and are dropped when they reach the front.
        if let Some((_, at)) = self.entries.remove(&key) {
            if self.order.back() == Some(&(at, key)) {
                self.order.pop_back();
            }
        }
    }

    fn release_in_flight(&mut self) {
        self.entries.retain(|_, (seen, _)| *seen != Seen::InFlight);
    }

    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> DedupeKey {
        DedupeKey::webhook_id(s)
    }

    #[test]
    fn a_key_is_in_flight_then_routed_then_forgotten_after_the_window() {
        let mut d = MemoryDedupe::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        assert_eq!(d.check_and_reserve(k("a"), t0), None);
        assert_eq!(d.check_and_reserve(k("a"), t0), Some(Seen::InFlight));
        d.confirm(k("a"));
        assert_eq!(
            d.check_and_reserve(k("a"), t0 + Duration::from_secs(9)),
            Some(Seen::Routed)
        );
        assert_eq!(
            d.check_and_reserve(k("a"), t0 + Duration::from_secs(10)),
            None
        );
    }

    #[test]
    fn a_released_key_is_produced_again() {
        let mut d = MemoryDedupe::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        assert_eq!(d.check_and_reserve(k("a"), t0), None);
        d.release(k("a"));
        assert_eq!(d.check_and_reserve(k("a"), t0), None);
    }

    #[test]
    fn capacity_forgets_the_oldest_keys_first() {
        let mut d = MemoryDedupe::new(Duration::from_secs(600), 3);
        let t0 = Instant::now();
        for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(
                d.check_and_reserve(k(name), t0 + Duration::from_millis(i as u64)),
                None
            );
            d.confirm(k(name));
        }
        assert_eq!(d.len(), 3);
        assert_eq!(d.check_and_reserve(k("d"), t0), Some(Seen::Routed));
        assert_eq!(
            d.check_and_reserve(k("a"), t0),
            None,
            "a was the oldest and is forgotten"
        );
    }

    #[test]
    fn a_hit_at_capacity_forgets_nothing() {
        let mut d = MemoryDedupe::new(Duration::from_secs(600), 2);
        let t0 = Instant::now();
        d.check_and_reserve(k("a"), t0);
        d.check_and_reserve(k("b"), t0);
        for _ in 0..3 {
            assert_eq!(d.check_and_reserve(k("a"), t0), Some(Seen::InFlight));
        }
        assert_eq!(d.len(), 2);
        assert_eq!(d.check_and_reserve(k("b"), t0), Some(Seen::InFlight));
    }

    #[test]
    fn releasing_in_flight_keys_keeps_routed_ones() {
        let mut d = MemoryDedupe::new(Duration::from_secs(600), 10);
        let t0 = Instant::now();
        d.check_and_reserve(k("routed"), t0);
        d.confirm(k("routed"));
        d.check_and_reserve(k("pending"), t0);
        d.release_in_flight();
        assert_eq!(d.check_and_reserve(k("routed"), t0), Some(Seen::Routed));
        assert_eq!(d.check_and_reserve(k("pending"), t0), None);
    }

    #[test]
    fn keys_are_equal_exactly_when_the_identities_are() {
        assert_eq!(
            DedupeKey::webhook_id("msg_1"),
            DedupeKey::webhook_id("msg_1")
        );
        assert_ne!(
            DedupeKey::webhook_id("msg_1"),
            DedupeKey::webhook_id("msg_2")
        );
        assert_eq!(
            DedupeKey::event("da-1", "created", "t0"),
            DedupeKey::event("da-1", "created", "t0")
        );
        // Length prefixes: moving a character between parts gives another key.
        assert_ne!(
            DedupeKey::event("da-1", "created", "t0"),
            DedupeKey::event("da-1c", "reated", "t0")
        );
        assert_ne!(DedupeKey::event("a", "", ""), DedupeKey::event("", "a", ""));
        // Domains: a webhook-id equal to an event's parts is another key.
        assert_ne!(DedupeKey::webhook_id(""), DedupeKey::event("", "", ""));
    }

    #[test]
    fn a_stale_order_slot_does_not_evict_a_key_reserved_again() {
        let mut d = MemoryDedupe::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        assert_eq!(d.check_and_reserve(k("a"), t0), None);
        d.release(k("a"));
        let t1 = t0 + Duration::from_secs(5);
        assert_eq!(d.check_and_reserve(k("a"), t1), None);
        d.confirm(k("a"));
        // t0's slot expires at 10 s; the reservation at t1 lives until 15 s.
        let t2 = t0 + Duration::from_secs(12);
        assert_eq!(d.check_and_reserve(k("b"), t2), None);
        assert_eq!(d.check_and_reserve(k("a"), t2), Some(Seen::Routed));
    }

    #[test]
    fn released_keys_do_not_grow_the_eviction_queue_past_its_bound() {
        let mut d = MemoryDedupe::new(Duration::from_secs(600), 4);
        let t0 = Instant::now();
        // Refused at once: the slot goes with the key.
        for i in 0..100u64 {
            let key = k(&format!("refused-{i}"));
            assert_eq!(d.check_and_reserve(key, t0), None);
            d.release(key);
        }
        assert_eq!((d.len(), d.order.len()), (0, 0));
        // Released after others were reserved: stale slots, at most twice the capacity.
        for i in 0..100u64 {
            let (a, b) = (k(&format!("failed-{i}")), k(&format!("next-{i}")));
            d.check_and_reserve(a, t0);
            d.check_and_reserve(b, t0);
            d.release(a);
            d.release(b);
            assert!(d.order.len() <= 2 * 4 + 1, "{}", d.order.len());
        }
    }
}
