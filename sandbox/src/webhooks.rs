//! `POST`/`GET /api/v1/webhooks`: registration of the URLs that receive completion webhooks
//! of sub-flow executions (see [`executions`](super::executions)).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::Value;
use uuid::Uuid;

use super::body::read_body;
use super::emit::is_http_url;
use super::error::ApiError;
use super::limits::admit;
use super::state::{Shared, WebhookRegistration};

/// Path of the webhook registration endpoint (as counted in `requests`).
pub const WEBHOOKS_PATH: &str = "/api/v1/webhooks";

/// Largest registration body accepted, in bytes.
pub const MAX_WEBHOOK_BODY_BYTES: usize = 64 * 1024;

/// Parses a registration body `{"url": "http://…", "events"?: [non-empty strings]}` and gives
/// it a new id. Other fields are ignored, as a real API would.
///
/// Errors: 400 [`ApiError::MalformedJson`] for a body that is not JSON;
/// [`ApiError::InvalidWebhook`] naming every bad field.
pub fn parse_registration(body: &[u8]) -> Result<WebhookRegistration, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(ApiError::InvalidWebhook(
            "body must be a JSON object {\"url\", \"events\"}".to_owned(),
        ));
    };
    let mut problems = Vec::new();
    let url = match fields.get("url") {
        Some(Value::String(url)) if is_http_url(url) => url.clone(),
        Some(_) => {
            problems.push("field `url` must be an http:// URL with a host".to_owned());
            String::new()
        }
        None => {
            problems.push("field `url` is required".to_owned());
            String::new()
        }
    };
    let events = match fields.get("events") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| match item {
                Value::String(event) if !event.is_empty() => Some(event.clone()),
                _ => {
                    problems.push(format!("field `events[{i}]` must be a non-empty string"));
                    None
                }
            })
            .collect(),
        Some(_) => {
            problems.push("field `events` must be a list of strings".to_owned());
            Vec::new()
        }
    };
    if !problems.is_empty() {
        return Err(ApiError::InvalidWebhook(problems.join("; ")));
    }
    Ok(WebhookRegistration {
        id: Uuid::new_v4().to_string(),
        url,
        events,
    })
}

/// `POST /api/v1/webhooks` (bearer auth): registers a completion-webhook URL (see
/// [`parse_registration`]); registering a URL again replaces its registration.
///
/// Answers 201 `{"id": uuid, "url", "events"}`. Errors after [`admit`] (401, 429, 503): 400
/// `malformed_json`, 400 `invalid_webhook` naming the bad field, 413 `payload_too_large`
/// over [`MAX_WEBHOOK_BODY_BYTES`].
pub async fn register_webhook(
    req: HttpRequest,
    payload: web::Payload,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &shared).await?;
    let body = read_body(payload, MAX_WEBHOOK_BODY_BYTES).await?;
    let registration = parse_registration(&body)?;
    shared.lock().webhooks.register(registration.clone())?;
    log::info!(
        "component=sandbox event=webhook_registered id={} url={}; completion webhook registered",
        registration.id,
        registration.url
    );
    Ok(HttpResponse::Created().json(registration))
}

/// `GET /api/v1/webhooks` (bearer auth): 200 with the registrations,
/// `[{"id", "url", "events"}]`, in registration order. Errors: those of [`admit`].
pub async fn list_webhooks(
    req: HttpRequest,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    admit(&req, &shared).await?;
    let list = shared.lock().webhooks.list().to_vec();
    Ok(HttpResponse::Ok().json(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(body: &str) -> String {
        match parse_registration(body.as_bytes()) {
            Err(ApiError::InvalidWebhook(message)) => message,
            other => panic!("expected invalid_webhook for {body}, got {other:?}"),
        }
    }

    #[test]
    fn a_registration_gets_an_id_and_keeps_its_events() {
        let parsed = parse_registration(
            br#"{"url": "http://127.0.0.1:8080/cxone/webhook", "events": ["execution.completed"]}"#,
        )
        .expect("valid");
        assert_eq!(parsed.url, "http://127.0.0.1:8080/cxone/webhook");
        assert_eq!(parsed.events, vec!["execution.completed".to_owned()]);
        assert!(Uuid::parse_str(&parsed.id).is_ok());
        let bare = parse_registration(br#"{"url": "http://h/x"}"#).expect("valid");
        assert!(bare.events.is_empty());
    }

    #[test]
    fn registration_problems_are_named() {
        assert!(invalid(r#"{}"#).contains("`url`"));
        assert!(invalid(r#"{"url": "https://h/x"}"#).contains("`url`"));
        assert!(invalid(r#"{"url": 5}"#).contains("`url`"));
        assert!(invalid(r#"{"url": "http://h/", "events": "all"}"#).contains("`events`"));
        assert!(invalid(r#"{"url": "http://h/", "events": ["a", ""]}"#).contains("`events[1]`"));
        assert!(parse_registration(br#"{"url": "http://h/", "secret": "s"}"#).is_ok());
        invalid("[]");
        assert!(matches!(
            parse_registration(b"nope"),
            Err(ApiError::MalformedJson(_))
        ));
    }
}
