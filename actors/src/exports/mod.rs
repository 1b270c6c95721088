//! Export streaming (seed 003): the stream request, chunk frames, checkpoints, and the
//! [`ExportStreamActor`] serving one WebSocket.
//!
//! - `request`: the client's first message and its validation;
//! - `frame`: chunk encoding (header, checksum, gzip, schema fingerprint, splitting) and
//!   decoding for consumers;
//! - `scan`: one allocation-free pass over a page (count, first keys, drift);
//! - `sink`: the optional data-lake sink (gzip NDJSON per chunk);
//! - `checkpoint`: checkpoints behind a store trait, written atomically;
//! - `stream`: the actor.

pub mod checkpoint;
pub mod frame;
pub mod request;
pub mod scan;
mod sink;
mod stream;

pub use checkpoint::{checkpoint_writer, Checkpoint, CheckpointStore, CheckpointWriter};
pub use request::{validate_request, StreamRequest};
pub use stream::{
    close_reason, ExportOptions, ExportStreamActor, Flushed, CLOSE_REASON_MAX, IN_TRANSIT_BYTES,
};
