//! switchboard: a resilient service for NICE CXone Data Actions. CXone posts Data Action
//! webhooks; switchboard routes them to Kafka and acknowledges them, through supervised actix
//! actors (crate `switchboard-actors`).
//!
//! - [`config`]: typed settings, loaded in layers and validated at start-up;
//! - [`startup`]: `Application::build`, the actor graph and the HTTP server;
//! - [`state`]: what the routes share (`AppState`, the actors' addresses);
//! - [`routes`]: the HTTP API (thin: parse, validate, message, map);
//! - [`openapi`]: the API's OpenAPI 3.1 document, generated from the code;
//! - [`error`]: the JSON error contract;
//! - [`answers`]: each outcome of the actors mapped to its HTTP answer (shared with the CLI);
//! - [`body`]: request bodies: content type, size limit, JSON;
//! - [`logging`]: the service's logger (client framing errors at DEBUG, not ERROR);
//! - [`signature`]: webhook signature verification;
//! - [`demo`]: `switchboard demo`, traffic from the sandbox and a summary;
//! - [`commands`]: CLI commands that call CXone in-process;
//! - [`cli`]: the command line.

pub mod answers;
pub mod body;
pub mod cli;
pub mod commands;
pub mod config;
pub mod demo;
pub mod error;
pub mod logging;
pub mod openapi;
pub mod reload;
pub mod routes;
pub mod shutdown;
pub mod signature;
pub mod startup;
pub mod state;
