//! Integration tests: a real sandbox and service per test, a real broker.

mod bad_input;
mod broker_down;
mod cxone;
mod definitions;
mod deltas;
mod exports;
mod helpers;
mod orchestration;
mod routing;
mod supervision;
mod tls;
