//! Per-partition batching: records wait in a bounded queue and leave in produce requests of
//! at most `kafka.max_batch_records` records and `kafka.max_batch_bytes` bytes, once a batch
//! is full or its oldest record has lingered `kafka.linger_ms`, with at most
//! `kafka.max_in_flight` requests in flight per partition.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::event::REQUEST_OVERHEAD_BYTES;
use crate::settings::KafkaSettings;

/// Batch limits of a partition.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    /// Records per request, at least 1.
    pub max_records: usize,
    /// Bytes per request (a single larger record still goes alone).
    pub max_bytes: usize,
    /// Requests in flight.
    pub max_in_flight: usize,
    /// Longest wait of the oldest record for a fuller batch.
    pub linger: Duration,
}

impl BatchLimits {
    /// The limits `kafka.*` sets: `max_batch_records`, `max_batch_bytes` (less
    /// [`REQUEST_OVERHEAD_BYTES`], so the whole request stays under it), `max_in_flight`
    /// and `linger_ms`; each count at least 1.
    pub fn of(settings: &KafkaSettings) -> Self {
        BatchLimits {
            max_records: settings.max_batch_records.max(1),
            max_bytes: settings
                .max_batch_bytes
                .saturating_sub(REQUEST_OVERHEAD_BYTES)
                .max(1),
            max_in_flight: settings.max_in_flight.max(1),
            linger: Duration::from_millis(settings.linger_ms),
        }
    }
}

/// A record waiting for its produce request, with whatever answers its sender (`W`).
#[derive(Debug)]
pub struct Pending<R, W> {
    /// The record.
    pub record: R,
    /// Its size in bytes.
    pub size: usize,
    /// When it was accepted.
    pub accepted: Instant,
    /// Its sender's reply handle.
    pub waiter: W,
}

/// One partition's queue.
#[derive(Debug)]
pub struct PartitionQueue<R, W> {
    queue: VecDeque<Pending<R, W>>,
    bytes: usize,
    /// Produce requests in flight.
    pub in_flight: usize,
    /// Whether a linger timer will pump this queue.
    pub linger_armed: bool,
}

impl<R, W> Default for PartitionQueue<R, W> {
    fn default() -> Self {
        PartitionQueue {
            queue: VecDeque::new(),
            bytes: 0,
            in_flight: 0,
            linger_armed: false,
        }
    }
}

/// What a partition should do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Send a batch now.
    Send,
    /// Wait this long (linger) and look again.
    WaitFor(Duration),
    /// Nothing to do (empty, or every in-flight slot busy).
    Idle,
}

impl<R, W> PartitionQueue<R, W> {
    /// Queues a record.
    pub fn push(&mut self, p: Pending<R, W>) {
        self.bytes += p.size;
        self.queue.push_back(p);
    }

    /// Records queued.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Decides whether to send now.
    pub fn next(&self, limits: &BatchLimits, now: Instant) -> Next {
        let Some(oldest) = self.queue.front() else {
            return Next::Idle;
        };
        if self.in_flight >= limits.max_in_flight {
            return Next::Idle;
        }
        let full = self.queue.len() >= limits.max_records || self.bytes >= limits.max_bytes;
        let waited = now.saturating_duration_since(oldest.accepted);
        if full || waited >= limits.linger {
            Next::Send
        } else {
            Next::WaitFor(limits.linger - waited)
        }
    }

    /// Takes the next batch (at least one record when not empty).
    pub fn take_batch(&mut self, limits: &BatchLimits) -> Vec<Pending<R, W>> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(p) = self.queue.front() {
            let fits = batch.is_empty()
                || (batch.len() < limits.max_records && bytes + p.size <= limits.max_bytes);
            if !fits {
                break;
            }
            bytes += p.size;
            if let Some(p) = self.queue.pop_front() {
                batch.push(p);
            }
        }
        self.bytes -= bytes;
        batch
    }

    /// Removes every record accepted before `cutoff` (they can no longer be answered in time).
    pub fn take_expired(&mut self, cutoff: Instant) -> Vec<Pending<R, W>> {
        let mut out = Vec::new();
        while self.queue.front().is_some_and(|p| p.accepted < cutoff) {
            if let Some(p) = self.queue.pop_front() {
                self.bytes -= p.size;
                out.push(p);
            }
        }
        out
    }

    /// Removes everything queued.
    pub fn take_all(&mut self) -> Vec<Pending<R, W>> {
        self.bytes = 0;
        self.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: BatchLimits = BatchLimits {
        max_records: 3,
        max_bytes: 100,
        max_in_flight: 2,
        linger: Duration::from_millis(5),
    };

    fn kafka(max_batch_bytes: usize, max_in_flight: usize) -> KafkaSettings {
        KafkaSettings {
            brokers: vec!["127.0.0.1:9092".into()],
            create_topics: true,
            topic_partitions: 3,
            replication_factor: 1,
            produce_timeout_ms: 5000,
            connect_timeout_ms: 5000,
            linger_ms: 2,
            max_batch_bytes,
            max_batch_records: 0,
            max_in_flight,
            queue_capacity: 10,
            compression: crate::settings::KafkaCompression::None,
            tls: Default::default(),
            sasl: Default::default(),
        }
    }

    #[test]
    fn limits_from_settings_keep_the_request_overhead_out_and_every_count_at_least_one() {
        let l = BatchLimits::of(&kafka(7168, 16));
        assert_eq!(l.max_bytes, 7168 - REQUEST_OVERHEAD_BYTES);
        assert_eq!(l.max_records, 1);
        assert_eq!(l.max_in_flight, 16);
        assert_eq!(l.linger, Duration::from_millis(2));
        let tiny = BatchLimits::of(&kafka(10, 0));
        assert_eq!((tiny.max_bytes, tiny.max_in_flight), (1, 1));
    }

    fn pending(size: usize, at: Instant) -> Pending<(), u32> {
        Pending {
            record: (),
            size,
            accepted: at,
            waiter: 0,
        }
    }

    #[test]
    fn a_lone_record_lingers_then_goes() {
        let t0 = Instant::now();
        let mut q = PartitionQueue::default();
        q.push(pending(10, t0));
        assert_eq!(q.next(&LIMITS, t0), Next::WaitFor(Duration::from_millis(5)));
        assert_eq!(q.next(&LIMITS, t0 + Duration::from_millis(5)), Next::Send);
    }

    #[test]
    fn a_full_batch_goes_at_once_and_is_capped_by_records_and_bytes() {
        let t0 = Instant::now();
        let mut q = PartitionQueue::default();
        for _ in 0..4 {
            q.push(pending(10, t0));
        }
        assert_eq!(q.next(&LIMITS, t0), Next::Send);
        assert_eq!(q.take_batch(&LIMITS).len(), 3);
        assert_eq!(q.len(), 1);

        let mut q = PartitionQueue::default();
        for _ in 0..3 {
            q.push(pending(40, t0));
        }
        assert_eq!(
            q.take_batch(&LIMITS).len(),
            2,
            "third record would pass 100 bytes"
        );
        assert_eq!(q.take_batch(&LIMITS).len(), 1);
        assert!(q.is_empty());
    }

    #[test]
    fn an_oversized_record_goes_alone() {
        let mut q = PartitionQueue::default();
        q.push(pending(500, Instant::now()));
        q.push(pending(1, Instant::now()));
        assert_eq!(q.take_batch(&LIMITS).len(), 1);
    }

    #[test]
    fn busy_in_flight_slots_hold_the_queue() {
        let t0 = Instant::now();
        let mut q = PartitionQueue::default();
        q.push(pending(10, t0));
        q.in_flight = 2;
        assert_eq!(q.next(&LIMITS, t0 + Duration::from_secs(1)), Next::Idle);
    }

    #[test]
    fn expired_records_are_taken_out_oldest_first() {
        let t0 = Instant::now();
        let mut q = PartitionQueue::default();
        q.push(pending(10, t0));
        q.push(pending(10, t0 + Duration::from_secs(2)));
        assert_eq!(q.take_expired(t0 + Duration::from_secs(1)).len(), 1);
        assert_eq!(q.len(), 1);
    }
}
