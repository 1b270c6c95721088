//! Data Action definitions (seed 002): validation, the header matrix, and the
//! [`DefinitionActor`] that creates them.
//!
//! - `validate`: every problem of a definition, by dotted field;
//! - `headers`: the header matrix and its 8 192-byte gateway limit;
//! - `actor`: the actor and its message.

mod actor;
pub mod headers;
pub mod validate;
pub(crate) mod webhook;

pub use actor::{CallSummary, CreateDefinition, Created, DefinitionActor, DefinitionError};
pub use headers::{HeaderMatrix, MAX_HEADER_MATRIX_BYTES};
