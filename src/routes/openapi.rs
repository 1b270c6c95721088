//! `GET /openapi.json`: the OpenAPI 3.1 document of this HTTP API ([`crate::openapi`]), the
//! same that `switchboard openapi` prints.

use actix_web::HttpResponse;

/// The handler: 200 with the document (compact JSON, built once).
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(crate::openapi::json())
}
