//! Schemas of bodies that have no Rust type of their own in the service: request bodies that
//! the routes validate by hand from JSON (so that every problem is reported at once, naming
//! its field) and answers that the health routes build with `json!`. A comment above each type
//! names the code that reads or writes that shape (its `///` doc is the schema's description,
//! for the API's users); the tests check real answers against them (`tests/api/openapi.rs`)
//! and schemathesis checks the routes against all of them.
//!
//! The `#[serde(...)]` attributes only shape the schemas (names, unknown fields refused);
//! these types are never deserialised.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use switchboard_actors::definitions::CallSummary;
use switchboard_actors::lifecycle::LastRestart;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::{Array, Object};
use utoipa::ToSchema;

// Read by `crate::routes::event::parse_event`.
/// A Data Action webhook event (seed 004). Unknown top-level fields are refused unless
/// `routing.allow_unknown_fields`; the three text fields are at most `routing.max_field_bytes`
/// bytes of decoded text (256 by default; the schema's `maxLength` counts characters, so a
/// shorter text of multi-byte characters may still be refused); nesting is at most
/// `routing.max_depth` levels (64) and no key may occur twice at any level.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataActionEvent {
    /// The Data Action's id, not blank: the Kafka record's key and the id acknowledged to
    /// CXone.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    pub data_action_id: String,
    /// The event's type (a record header; empty when absent or null).
    #[schema(max_length = 256)]
    pub event_type: Option<String>,
    /// The event's timestamp as the sender wrote it (a record header; empty when absent or
    /// null).
    #[schema(max_length = 256)]
    pub timestamp: Option<String>,
    /// The payload: the record's value (its text without insignificant whitespace), what the
    /// routing rules match; `{}` when absent or null.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

// Read by `crate::routes::orchestrations::parse_completion`.
/// An execution-completion event (CXone's webhook): only `event_id`, `data.executionId` and
/// `data.status` are read; other members are allowed and ignored.
#[derive(Debug, Serialize, ToSchema)]
pub struct CompletionEvent {
    /// The event's id: the dedupe key (non-empty).
    #[schema(min_length = 1)]
    pub event_id: String,
    /// Who sent it (not read).
    #[schema(value_type = Option<Value>)]
    pub source: Option<Value>,
    /// The execution and how it ended.
    pub data: CompletionData,
    /// When it was sent (not read).
    #[schema(value_type = Option<Value>)]
    pub timestamp: Option<Value>,
}

/// How an execution ended: `completed` (or `succeeded`) or `failed`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompletionStatus {
    /// Succeeded.
    Completed,
    /// Succeeded (the status poll's spelling).
    Succeeded,
    /// Failed.
    Failed,
}

/// The execution a completion event is about, and how it ended.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CompletionData {
    /// The sub-flow (Data Action) id (not read: the execution id routes the event).
    #[schema(value_type = Option<Value>)]
    pub sub_flow_id: Option<Value>,
    /// The execution (non-empty).
    #[schema(min_length = 1)]
    pub execution_id: String,
    /// How it ended.
    pub status: CompletionStatus,
}

// Read by `switchboard_actors::definitions::validate::validate`.
/// A Data Action definition (seed 002): a REST definition, whose configuration is checked, or
/// a SOAP or SCRIPT one, whose configuration is any object. Unknown top-level fields are
/// refused; every problem is reported at once, naming its dotted field.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Definition {
    /// `type` `REST`.
    Rest(RestDefinition),
    /// `type` `SOAP` or `SCRIPT`.
    Other(OtherDefinition),
}

/// `REST`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RestType {
    /// A REST call.
    Rest,
}

/// `SOAP` or `SCRIPT`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum OtherType {
    /// A SOAP call.
    Soap,
    /// A script.
    Script,
}

/// A REST method.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum RestMethod {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
}

/// A definition of `type` `REST`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestDefinition {
    /// 1..=128 letters, digits, `_`, `-`, `.` and spaces, not only spaces.
    #[schema(schema_with = definition_name)]
    pub name: String,
    /// At most 1024 characters.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// `REST`.
    #[serde(rename = "type")]
    pub kind: RestType,
    /// The call.
    pub configuration: RestConfiguration,
    /// Whether it is enabled.
    pub enabled: Option<bool>,
    /// At most 50 unique tags of 1..=64 characters.
    #[schema(schema_with = tags)]
    pub tags: Option<Vec<String>>,
}

/// The configuration of a REST definition (other members are allowed and passed on).
#[derive(Debug, Serialize, ToSchema)]
pub struct RestConfiguration {
    /// The method.
    pub method: RestMethod,
    /// An absolute `https://` URL with a host (`http://` only with `definitions.allow_http`).
    #[schema(pattern = "^https://[^/?#]")]
    pub url: String,
    /// Timeout, milliseconds, 1..=60000.
    #[schema(minimum = 1, maximum = 60000)]
    pub timeout: Option<u64>,
    /// Header name → value (strings).
    pub headers: Option<BTreeMap<String, String>>,
}

/// A definition of `type` `SOAP` or `SCRIPT`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OtherDefinition {
    /// 1..=128 letters, digits, `_`, `-`, `.` and spaces, not only spaces.
    #[schema(schema_with = definition_name)]
    pub name: String,
    /// At most 1024 characters.
    #[schema(max_length = 1024)]
    pub description: Option<String>,
    /// `SOAP` or `SCRIPT`.
    #[serde(rename = "type")]
    pub kind: OtherType,
    /// Any object.
    #[schema(value_type = Object)]
    pub configuration: Value,
    /// Whether it is enabled.
    pub enabled: Option<bool>,
    /// At most 50 unique tags of 1..=64 characters.
    #[schema(schema_with = tags)]
    pub tags: Option<Vec<String>>,
}

/// The schema of a definition's `name`: 1..=128 letters, digits, `_`, `-`, `.` and spaces,
/// not only spaces.
fn definition_name() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "1..=128 letters, digits, `_`, `-`, `.` and spaces, not only spaces.",
        ))
        .min_length(Some(1))
        .max_length(Some(128))
        .pattern(Some(r"^[\w .-]*[\w.-][\w .-]*$"))
        .build()
}

/// The schema of a definition's `tags`: null, or at most 50 unique strings of 1..=64
/// characters.
fn tags() -> Array {
    ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            Type::Array,
            Type::Null,
        ]))
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(64)),
        )
        .max_items(Some(50))
        .unique_items(true)
        .build()
}

// Written by `crate::answers::created_json`.
/// A created definition: the definition as CXone returned it (its members, whatever they are)
/// plus `audit`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedDefinition {
    /// The creation call.
    pub audit: CallSummary,
}

/// `ok`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OkStatus {
    /// Ok.
    Ok,
}

/// `ready`.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    /// Ready.
    Ready,
}

// Written by `crate::routes::health::healthz`.
/// The process serves HTTP: `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: OkStatus,
}

// Written by `crate::routes::health::readyz`.
/// Ready: `{"status": "ready", "broker": {"topics": n}, "token": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: ReadyStatus,
    /// The broker answered a metadata request.
    pub broker: BrokerReadiness,
    /// `ok`: a CXone token could be had.
    pub token: OkStatus,
}

/// The broker's readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct BrokerReadiness {
    /// Topics the broker reported.
    #[schema(minimum = 0)]
    pub topics: u64,
}

// Written by `crate::routes::health::actors`.
/// A supervised actor: whether it answered within a second and, when it did, its restarts,
/// last restart and queue depth.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorStatus {
    /// The actor's name, e.g. `KafkaRouterActor`.
    pub actor: String,
    /// Restarts by its supervisor so far; null when it did not answer.
    #[schema(required = true, minimum = 0)]
    pub restarts: Option<u32>,
    /// The last restart, or null.
    #[schema(required = true)]
    pub last_restart: Option<LastRestart>,
    /// What waits in its own queue, for the actors that keep one (the router, the
    /// acknowledger); null otherwise, or when it did not answer.
    #[schema(required = true, minimum = 0)]
    pub queue: Option<u64>,
    /// Whether it answered within a second (false: restarting, or busy).
    pub answering: bool,
}
