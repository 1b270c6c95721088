//! Data stores as the sandbox keeps them: records by id with an optimistic-locking version
//! (changed by [`deltas`](crate::deltas), seeded and inspected through
//! [`datastore`](crate::datastore)).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// One record of a data store. JSON: `{"version": u64, "fields": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredRecord {
    /// Optimistic-locking version: 1 when created, + 1 on every applied change.
    pub version: u64,
    /// The record's fields.
    pub fields: Map<String, Value>,
}

/// The records of one data store by record id.
pub type DataStore = BTreeMap<String, StoredRecord>;

/// Every data store by data store id (one namespace for all tenants).
pub type DataStores = BTreeMap<String, DataStore>;
