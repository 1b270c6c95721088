//! Answers remembered per `Idempotency-Key`, so a retried delta request is answered again
//! with the same status and body instead of being applied twice.

use std::collections::{HashMap, VecDeque};

use actix_web::web::Bytes;

/// Most keys remembered; the oldest is forgotten first.
pub const IDEMPOTENCY_CAPACITY: usize = 100_000;

/// Most answer-body bytes remembered in all (64 MiB); the oldest keys are forgotten first.
pub const IDEMPOTENCY_MAX_BYTES: usize = 64 * 1024 * 1024;

/// An answer given to an idempotent request: its HTTP status and exact body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    /// HTTP status (200 or 409 for deltas).
    pub status: u16,
    /// The JSON body exactly as sent.
    pub body: Bytes,
}

/// A bounded map `Idempotency-Key` → [`StoredAnswer`], forgetting the oldest keys first once
/// it holds more than `capacity` keys or `max_bytes` body bytes.
#[derive(Debug, Clone)]
pub struct IdempotencyCache {
    answers: HashMap<String, StoredAnswer>,
    order: VecDeque<String>,
    bytes: usize,
    capacity: usize,
    max_bytes: usize,
}

impl Default for IdempotencyCache {
    fn default() -> Self {
        IdempotencyCache::new(IDEMPOTENCY_CAPACITY, IDEMPOTENCY_MAX_BYTES)
    }
}

impl IdempotencyCache {
    /// An empty cache holding at most `capacity` keys (at least 1) and `max_bytes` bytes.
    pub fn new(capacity: usize, max_bytes: usize) -> IdempotencyCache {
        IdempotencyCache {
            answers: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            capacity: capacity.max(1),
            max_bytes,
        }
    }

    /// The answer remembered for `key`, if any.
    pub fn get(&self, key: &str) -> Option<&StoredAnswer> {
        self.answers.get(key)
    }

    /// Remembers `answer` for `key` (replacing an earlier one), then forgets the oldest keys
    /// while over a bound. An answer larger than `max_bytes` on its own is not kept.
    pub fn insert(&mut self, key: &str, answer: StoredAnswer) {
        if let Some(old) = self.answers.remove(key) {
            self.bytes -= old.body.len();
            self.order.retain(|k| k != key);
        }
        if answer.body.len() > self.max_bytes {
            return;
        }
        self.bytes += answer.body.len();
        self.answers.insert(key.to_owned(), answer);
        self.order.push_back(key.to_owned());
        while self.answers.len() > self.capacity || self.bytes > self.max_bytes {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.answers.remove(&oldest) {
                self.bytes -= old.body.len();
            }
        }
    }

    /// Number of keys remembered.
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &'static str) -> StoredAnswer {
        StoredAnswer {
            status,
            body: Bytes::from_static(body.as_bytes()),
        }
    }

    #[test]
    fn a_remembered_answer_is_returned_for_its_key_only() {
        let mut cache = IdempotencyCache::default();
        cache.insert("k1", answer(409, r#"{"applied":0}"#));
        assert_eq!(cache.get("k1"), Some(&answer(409, r#"{"applied":0}"#)));
        assert_eq!(cache.get("k2"), None);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_oldest_key_is_forgotten_past_the_capacity() {
        let mut cache = IdempotencyCache::new(2, 1024);
        cache.insert("a", answer(200, "1"));
        cache.insert("b", answer(200, "2"));
        cache.insert("c", answer(200, "3"));
        assert_eq!(cache.get("a"), None);
        assert!(cache.get("b").is_some() && cache.get("c").is_some());
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn the_oldest_keys_are_forgotten_past_the_byte_bound() {
        let mut cache = IdempotencyCache::new(100, 10);
        cache.insert("a", answer(200, "aaaa"));
        cache.insert("b", answer(200, "bbbb"));
        cache.insert("c", answer(200, "cccc"));
        assert_eq!(cache.get("a"), None);
        assert_eq!(cache.len(), 2);
        cache.insert("huge", answer(200, "xxxxxxxxxxxx"));
        assert_eq!(cache.get("huge"), None);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn replacing_a_key_keeps_the_byte_count_right() {
        let mut cache = IdempotencyCache::new(100, 8);
        cache.insert("a", answer(200, "aaaa"));
        cache.insert("a", answer(200, "aaaa"));
        cache.insert("b", answer(200, "bbbb"));
        assert!(cache.get("a").is_some() && cache.get("b").is_some());
    }
}
