//! Which of this replica's claims in the shared dedupe window may count as routed:
//! [`ClaimLedger`]. The store counts a key reserved in claim `n` as routed once the replica's
//! watermark reaches `n` (see [`SharedDedupe`](crate::store::SharedDedupe)); the ledger says
//! how far the watermark may go.

use std::collections::{BTreeMap, HashMap};

use super::dedupe::DedupeKey;

/// This replica's claims in the shared dedupe window, numbered from 1 in the order they are
/// sent, and the keys whose deliveries still run.
///
/// Invariant: a key this replica reserved in claim `n` whose delivery has not ended holds
/// some claim `m <= n` open, so [`routed_through`](Self::routed_through) stays below `n` until
/// the key ends — produced, or its release written. A claim is open from
/// [`begin`](Self::begin) until its statement answered and every key it holds ended.
#[derive(Debug)]
pub struct ClaimLedger {
    /// The next claim's number.
    next: i64,
    /// Open claims, with what each still waits for: its statement (1 until it answered) and
    /// the keys it holds.
    open: BTreeMap<i64, usize>,
    /// Keys whose deliveries run, with the claim holding them.
    held: HashMap<DedupeKey, i64>,
}

impl Default for ClaimLedger {
    fn default() -> Self {
        ClaimLedger {
            next: 1,
            open: BTreeMap::new(),
            held: HashMap::new(),
        }
    }
}

impl ClaimLedger {
    /// Opens the next claim before its statement is sent; its number (1, 2, ...).
    pub fn begin(&mut self) -> i64 {
        let n = self.next;
        self.next += 1;
        self.open.insert(n, 1);
        n
    }

    /// Claim `n` (open) answered: `ours` are the keys it says are this replica's. Each is
    /// held by the lowest open claim that returned it, until [`ended`](Self::ended).
    pub fn answered(&mut self, n: i64, ours: impl IntoIterator<Item = DedupeKey>) {
        for key in ours {
            self.hold(key, n);
        }
        self.close_one(n);
    }

    /// Claim `n` (open) failed: any of `keys` it may have reserved. Holds them as
    /// [`answered`](Self::answered) does and returns those no other claim held: their
    /// releases must be written, then each [`ended`](Self::ended), before the watermark
    /// passes `n`.
    pub fn failed(&mut self, n: i64, keys: &[DedupeKey]) -> Vec<DedupeKey> {
        let mut fresh: Vec<DedupeKey> = keys
            .iter()
            .filter(|k| !self.held.contains_key(k))
            .copied()
            .collect();
        self.answered(n, keys.iter().copied());
        fresh.sort_unstable_by_key(|k| k.0);
        fresh.dedup();
        fresh
    }

    /// The delivery of `key` ended: it reached Kafka, or its release was written.
    pub fn ended(&mut self, key: &DedupeKey) {
        if let Some(n) = self.held.remove(key) {
            self.close_one(n);
        }
    }

    /// The highest claim number up to which every claim is closed: how far the watermark may
    /// go.
    pub fn routed_through(&self) -> i64 {
        match self.open.keys().next() {
            Some(first) => first - 1,
            None => self.next - 1,
        }
    }

    /// The keys whose deliveries run.
    pub fn held(&self) -> Vec<DedupeKey> {
        self.held.keys().copied().collect()
    }

    fn hold(&mut self, key: DedupeKey, n: i64) {
        match self.held.get(&key).copied() {
            Some(m) if m <= n => return,
            // Held by a later claim: the earlier one holds it from now.
            Some(m) => self.close_one(m),
            None => {}
        }
        self.held.insert(key, n);
        *self.open.entry(n).or_default() += 1;
    }

    fn close_one(&mut self, n: i64) {
        if let Some(count) = self.open.get_mut(&n) {
            *count -= 1;
            if *count == 0 {
                self.open.remove(&n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> DedupeKey {
        DedupeKey::webhook_id(s)
    }

    #[test]
    fn the_watermark_passes_a_claim_once_its_statement_answered_and_its_keys_ended() {
        let mut l = ClaimLedger::default();
        assert_eq!(l.routed_through(), 0);
        let one = l.begin();
        assert_eq!((one, l.routed_through()), (1, 0), "its statement runs");
        l.answered(one, [k("a"), k("b")]);
        assert_eq!(l.routed_through(), 0, "a and b run");
        let two = l.begin();
        l.answered(two, []);
        l.ended(&k("a"));
        assert_eq!(l.routed_through(), 0, "b runs");
        l.ended(&k("b"));
        assert_eq!(l.routed_through(), 2, "claim 2 had no key of its own");
        l.ended(&k("b"));
        assert_eq!(l.routed_through(), 2, "a key ends once");
    }

    #[test]
    fn a_key_returned_by_two_claims_holds_the_earlier_one_open() {
        let mut l = ClaimLedger::default();
        let (one, two) = (l.begin(), l.begin());
        // Claim 2 answered first; claim 1 then returned the same key as ours too.
        l.answered(two, [k("a")]);
        l.answered(one, [k("a")]);
        assert_eq!(l.routed_through(), 0, "a runs, held by claim 1");
        l.ended(&k("a"));
        assert_eq!(l.routed_through(), 2);
        // A later claim returning a key in flight leaves it with its first claim.
        let three = l.begin();
        l.answered(three, [k("b")]);
        let four = l.begin();
        l.answered(four, [k("b")]);
        assert_eq!(l.routed_through(), 2);
        l.ended(&k("b"));
        assert_eq!(l.routed_through(), 4);
    }

    #[test]
    fn a_failed_claim_stays_open_until_the_keys_it_may_have_reserved_are_released() {
        let mut l = ClaimLedger::default();
        let one = l.begin();
        l.answered(one, [k("in-flight")]);
        let two = l.begin();
        let fresh = l.failed(two, &[k("in-flight"), k("new"), k("new")]);
        assert_eq!(fresh, vec![k("new")], "in-flight is claim 1's");
        l.ended(&k("in-flight"));
        assert_eq!(l.routed_through(), 1, "claim 2 waits for new's release");
        l.ended(&k("new"));
        assert_eq!(l.routed_through(), 2);
        let mut held = l.held();
        held.sort_unstable_by_key(|k| k.0);
        assert!(held.is_empty());
    }
}
