//! Export jobs: `POST /api/v2/data-actions/exports` starts one on a registered report
//! ([`reports`](super::reports)); `GET /api/v2/data-actions/exports/{id}/records` pages
//! through its records. `GET /sandbox/state` shows `exports`: job id → records served.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};
use uuid::Uuid;

use super::auth::parse_form;
use super::body::read_body;
use super::error::ApiError;
use super::limits::admit;
use super::state::{ReportSpec, Shared};

/// Path of the start-export endpoint (as counted in `requests`).
pub const EXPORTS_PATH: &str = "/api/v2/data-actions/exports";

/// Path template of the export records endpoint (as counted in `requests`).
pub const EXPORT_RECORDS_PATH: &str = "/api/v2/data-actions/exports/{id}/records";

/// Records per page when `limit` is not given.
pub const DEFAULT_PAGE_LIMIT: u64 = 1000;

/// Largest `limit` accepted.
pub const MAX_PAGE_LIMIT: u64 = 10_000;

/// Largest start-export body accepted, in bytes.
pub const MAX_EXPORT_BODY_BYTES: usize = 64 * 1024;

/// The only export format: JSON arrays of records.
pub const EXPORT_FORMAT: &str = "json";

/// Parses a start-export body `{"report_id": non-empty string, "format"?: "json"}` (other
/// fields are ignored); returns the report id.
///
/// Errors: [`ApiError::MalformedJson`] for a body that is not JSON;
/// [`ApiError::InvalidExport`] naming every bad field.
pub fn parse_export_request(body: &[u8]) -> Result<String, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::InvalidExport(
            "body must be a JSON object {\"report_id\", \"format\"}".to_owned(),
        ));
    };
    let mut problems = Vec::new();
    let report_id = match fields.get("report_id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(_) => {
            problems.push("field `report_id` must be a non-empty string".to_owned());
            String::new()
        }
        None => {
            problems.push("field `report_id` is required".to_owned());
            String::new()
        }
    };
    match fields.get("format") {
        None | Some(Value::Null) => {}
        Some(Value::String(format)) if format == EXPORT_FORMAT => {}
        Some(_) => problems.push("field `format` must be \"json\"".to_owned()),
    }
    if problems.is_empty() {
        Ok(report_id)
    } else {
        Err(ApiError::InvalidExport(problems.join("; ")))
    }
}

/// A page request: `limit` records from `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageQuery {
    /// Records asked for, 1..=10 000 (default 1000).
    pub limit: u64,
    /// Offset of the first record, ≥ 0 (default 0).
    pub offset: u64,
}

impl PageQuery {
    /// Parses a query string `limit=&offset=` (other parameters are ignored; a repeated one
    /// takes its last value).
    ///
    /// Errors: [`ApiError::InvalidQuery`] naming `limit` or `offset` when it is not an
    /// integer in range, or the query is not form-encoded.
    pub fn parse(query: &str) -> Result<PageQuery, ApiError> {
        let pairs = parse_form(query).map_err(ApiError::InvalidQuery)?;
        let mut page = PageQuery {
            limit: DEFAULT_PAGE_LIMIT,
            offset: 0,
        };
        let mut problems = Vec::new();
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => match value.parse::<u64>() {
                    Ok(n) if (1..=MAX_PAGE_LIMIT).contains(&n) => page.limit = n,
                    _ => problems
                        .push("query parameter `limit` must be an integer from 1 to 10000".into()),
                },
                "offset" => match value.parse::<u64>() {
                    Ok(n) => page.offset = n,
                    _ => problems
                        .push("query parameter `offset` must be a non-negative integer".to_owned()),
                },
                _ => {}
            }
        }
        if problems.is_empty() {
            Ok(page)
        } else {
            Err(ApiError::InvalidQuery(problems.join("; ")))
        }
    }
}

/// `POST /api/v2/data-actions/exports` (bearer auth): starts an export job on a registered
/// report (see [`parse_export_request`]). The job keeps the report as it is now.
///
/// Answers 201 `{"id": job uuid, "report_id", "format": "json", "status": "ready",
/// "records": total records}`; the job shows in the state's `exports` with 0 served.
/// Errors: those of [`admit`] (401, 429, 503), 400 `malformed_json` / `invalid_export`, 404
/// `not_found` for an unknown report, 413 `payload_too_large`.
pub async fn start_export(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &shared).await?;
    let body = read_body(payload, MAX_EXPORT_BODY_BYTES).await?;
    let report_id = parse_export_request(&body)?;
    let job_id = Uuid::new_v4().to_string();
    let records =
        {
            let mut state = shared.lock();
            let spec = state.reports.get(&report_id).cloned().ok_or_else(|| {
                ApiError::UnknownResource {
                    kind: "report",
                    id: report_id.clone(),
                }
            })?;
            let records = spec.records;
            state.export_jobs.insert(job_id.clone(), spec);
            state.records.exports.insert(job_id.clone(), 0);
            records
        };
    log::info!(
        "component=sandbox event=export_started job_id={job_id} report_id={report_id} records={records}; export job started"
    );
    Ok(HttpResponse::Created().json(json!({
        "id": job_id,
        "report_id": report_id,
        "format": EXPORT_FORMAT,
        "status": "ready",
        "records": records,
    })))
}

/// `GET /api/v2/data-actions/exports/{id}/records?limit=&offset=` (bearer auth): 200 with a
/// JSON array of the job's records `[offset, offset + limit)` (see
/// [`ExportRecord`](super::reports::ExportRecord)), `[]` at and past the end. The records
/// returned are added to the job's count in the state's `exports`.
///
/// Errors: those of [`admit`], 400 `invalid_query` (see [`PageQuery::parse`]), 404
/// `not_found` for an unknown job.
pub async fn export_records(
    req: HttpRequest,
    job_id: web::Path<String>,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &shared).await?;
    let page = PageQuery::parse(req.query_string())?;
    let job_id = job_id.into_inner();
    let spec: ReportSpec = shared
        .lock()
        .export_jobs
        .get(&job_id)
        .cloned()
        .ok_or_else(|| ApiError::UnknownResource {
            kind: "export job",
            id: job_id.clone(),
        })?;
    // Generated outside the lock: other calls are not held up by a 10 000-record page.
    let records = spec.page(page.offset, page.limit);
    let body = serde_json::to_vec(&records)
        .map_err(|e| ApiError::InvalidPayload(format!("records could not be serialised: {e}")))?;
    if let Some(served) = shared.lock().records.exports.get_mut(&job_id) {
        *served = served.saturating_add(records.len() as u64);
    }
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_error(query: &str) -> String {
        match PageQuery::parse(query) {
            Err(ApiError::InvalidQuery(message)) => message,
            other => panic!("expected invalid_query for {query}, got {other:?}"),
        }
    }

    #[test]
    fn page_queries_default_to_a_thousand_from_zero() {
        let default = PageQuery {
            limit: 1000,
            offset: 0,
        };
        assert_eq!(PageQuery::parse(""), Ok(default));
        assert_eq!(PageQuery::parse("cursor=x"), Ok(default));
        assert_eq!(
            PageQuery::parse("limit=10000&offset=9990000"),
            Ok(PageQuery {
                limit: 10_000,
                offset: 9_990_000
            })
        );
    }

    #[test]
    fn bad_limits_and_offsets_are_named() {
        for query in ["limit=0", "limit=10001", "limit=-1", "limit=", "limit=ten"] {
            assert!(query_error(query).contains("`limit`"), "{query}");
        }
        for query in ["offset=-1", "offset=1.5", "offset=x"] {
            assert!(query_error(query).contains("`offset`"), "{query}");
        }
        let both = query_error("limit=0&offset=x");
        assert!(both.contains("`limit`") && both.contains("`offset`"));
        query_error("limit=%zz");
    }

    #[test]
    fn an_export_request_names_its_report() {
        assert_eq!(
            parse_export_request(br#"{"report_id": "r", "format": "json"}"#),
            Ok("r".to_owned())
        );
        assert_eq!(
            parse_export_request(br#"{"report_id": "r"}"#),
            Ok("r".into())
        );
        let bad = |body: &str| match parse_export_request(body.as_bytes()) {
            Err(ApiError::InvalidExport(message)) => message,
            other => panic!("expected invalid_export for {body}, got {other:?}"),
        };
        assert!(bad(r#"{"format": "json"}"#).contains("`report_id`"));
        assert!(bad(r#"{"report_id": 3}"#).contains("`report_id`"));
        assert!(bad(r#"{"report_id": "r", "format": "csv"}"#).contains("`format`"));
        bad("[]");
        assert!(matches!(
            parse_export_request(b"nope"),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
