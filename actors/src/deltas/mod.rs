//! Delta updates (seed 001): the delta set and its validation, batching with checksums,
//! batch and run reports, and the [`DeltaBatchActor`] that sends them.
//!
//! - `set`: the set, its records, validation naming record index and id;
//! - `batch`: payload per batch, serialised once, SHA-256 checksum;
//! - `report`: batch results, totals, metrics;
//! - `actor`: the actor and its messages.

mod actor;
pub mod batch;
pub mod report;
pub mod set;

pub use actor::{ApplyBatch, ApplyDelta, DeltaBatchActor};
pub use batch::{prepare, PreparedBatch};
pub use report::{BatchResult, BatchStatus, DeltaReport};
pub use set::{
    validate_record, validate_set, ConflictResolution, DeltaRecord, DeltaSet, Problems, UpdateType,
};
