//! `switchboard openapi`: prints the HTTP API's OpenAPI 3.1 document ([`crate::openapi`]) as
//! pretty JSON on stdout, the same document `GET /openapi.json` serves.

/// Prints the document.
pub fn print() {
    println!("{}", crate::openapi::pretty());
}
