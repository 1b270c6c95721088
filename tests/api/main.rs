//! Integration tests: a real sandbox and service per test, a real broker.

mod acknowledgements;
mod bad_input;
mod bad_input_corpus;
mod broker_down;
mod compression;
mod cxone;
mod dead_letter;
mod definitions;
mod deltas;
mod drain;
mod exports;
mod helpers;
mod json_logs;
mod kafka_security;
mod openapi;
mod orchestration;
mod reload;
mod replicas;
mod resume;
mod routing;
mod sasl_plain;
mod signatures;
mod supervision;
mod tls;
