//! The dedupe window: event keys seen within `routing.dedupe_window_secs`, at most
//! `routing.dedupe_capacity` of them (oldest forgotten first). Behind [`DedupeStore`] so a
//! shared store can replace the local one when switchboard runs as several replicas.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

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
    fn check_and_reserve(&mut self, key: &str, now: Instant) -> Option<Seen>;
    /// The delivery of `key` reached Kafka.
    fn confirm(&mut self, key: &str);
    /// The delivery of `key` failed: forget it so a redelivery is produced.
    fn release(&mut self, key: &str);
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
    entries: HashMap<Box<str>, (Seen, Instant)>,
    order: VecDeque<(Instant, Box<str>)>,
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

    fn evict(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front() {
            let expired = now.saturating_duration_since(*at) >= self.window;
            let over = self.entries.len() >= self.capacity;
            // Entries released or re-reserved since leave stale order slots: drop those too.
            let stale = self.entries.get(key).is_none_or(|(_, t)| t != at);
            if !(expired || over || stale) {
                break;
            }
            if !stale {
                self.entries.remove(key);
            }
            self.order.pop_front();
        }
    }
}

impl DedupeStore for MemoryDedupe {
    fn check_and_reserve(&mut self, key: &str, now: Instant) -> Option<Seen> {
        if let Some((seen, at)) = self.entries.get(key) {
            if now.saturating_duration_since(*at) < self.window {
                return Some(*seen);
            }
        }
        self.evict(now);
        let key: Box<str> = key.into();
        self.entries.insert(key.clone(), (Seen::InFlight, now));
        self.order.push_back((now, key));
        None
    }

    fn confirm(&mut self, key: &str) {
        if let Some((seen, _)) = self.entries.get_mut(key) {
            *seen = Seen::Routed;
        }
    }

    fn release(&mut self, key: &str) {
        self.entries.remove(key);
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

    #[test]
    fn a_key_is_in_flight_then_routed_then_forgotten_after_the_window() {
        let mut d = MemoryDedupe::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        assert_eq!(d.check_and_reserve("a", t0), None);
        assert_eq!(d.check_and_reserve("a", t0), Some(Seen::InFlight));
        d.confirm("a");
        assert_eq!(
            d.check_and_reserve("a", t0 + Duration::from_secs(9)),
            Some(Seen::Routed)
        );
        assert_eq!(d.check_and_reserve("a", t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn a_released_key_is_produced_again() {
        let mut d = MemoryDedupe::new(Duration::from_secs(10), 100);
        let t0 = Instant::now();
        assert_eq!(d.check_and_reserve("a", t0), None);
        d.release("a");
        assert_eq!(d.check_and_reserve("a", t0), None);
    }

    #[test]
    fn capacity_forgets_the_oldest_keys_first() {
        let mut d = MemoryDedupe::new(Duration::from_secs(600), 3);
        let t0 = Instant::now();
        for (i, k) in ["a", "b", "c", "d"].iter().enumerate() {
            assert_eq!(
                d.check_and_reserve(k, t0 + Duration::from_millis(i as u64)),
                None
            );
            d.confirm(k);
        }
        assert_eq!(d.len(), 3);
        assert_eq!(d.check_and_reserve("d", t0), Some(Seen::Routed));
        assert_eq!(
            d.check_and_reserve("a", t0),
            None,
            "a was the oldest and is forgotten"
        );
    }

    #[test]
    fn releasing_in_flight_keys_keeps_routed_ones() {
        let mut d = MemoryDedupe::new(Duration::from_secs(600), 10);
        let t0 = Instant::now();
        d.check_and_reserve("routed", t0);
        d.confirm("routed");
        d.check_and_reserve("pending", t0);
        d.release_in_flight();
        assert_eq!(d.check_and_reserve("routed", t0), Some(Seen::Routed));
        assert_eq!(d.check_and_reserve("pending", t0), None);
    }
}
