//! `POST /oauth/token` (RFC 6749 client credentials and password grants) and the bearer check.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use rand::Rng;
use serde_json::json;

use super::error::ApiError;
use super::state::{IssuedToken, Shared};

/// Client credentials presented to the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// The client id (URL-decoded).
    pub id: String,
    /// The client secret (URL-decoded).
    pub secret: String,
}

/// Decodes an `application/x-www-form-urlencoded` component: `+` is a space, `%XX` a byte.
///
/// Returns `None` for a malformed escape or bytes that are not UTF-8.
pub fn form_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Parses a form-encoded body into `(name, value)` pairs, in order, both URL-decoded.
///
/// Errors: a description of the first malformed pair.
pub fn parse_form(body: &str) -> Result<Vec<(String, String)>, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match (form_decode(name), form_decode(value)) {
                (Some(name), Some(value)) => Ok((name, value)),
                _ => Err(format!("malformed form field {pair:?}")),
            }
        })
        .collect()
}

/// Parses an `Authorization: Basic base64(id:secret)` header value; per RFC 6749 section
/// 2.3.1 the id and secret are form-encoded before base64, so both are URL-decoded.
///
/// Returns `None` when the scheme is not Basic or the value is malformed.
pub fn parse_basic(header_value: &str) -> Option<ClientCredentials> {
    let (scheme, encoded) = header_value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some(ClientCredentials {
        id: form_decode(id)?,
        secret: form_decode(secret)?,
    })
}

/// Returns the bearer token of an `Authorization: Bearer <token>` header value.
pub fn parse_bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks the request's bearer token against the issued `tokens`
/// ([`SandboxState::tokens`](super::state::SandboxState::tokens)) at `now`; returns the
/// token's tenant (its client id), borrowed from the map so the caller can still update the
/// state's other fields.
///
/// Errors: [`ApiError::InvalidToken`] when the header is missing or malformed, the token was
/// never issued by this sandbox, or it has expired.
pub fn authenticate<'a>(
    req: &HttpRequest,
    tokens: &'a HashMap<String, IssuedToken>,
    now: Instant,
) -> Result<&'a str, ApiError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(parse_bearer)
        .ok_or(ApiError::InvalidToken)?;
    match tokens.get(token) {
        Some(issued) if issued.expires_at > now => Ok(&issued.tenant),
        _ => Err(ApiError::InvalidToken),
    }
}

fn is_form(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| {
            mime.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

/// The client credentials of a token request: HTTP Basic if present, else the form's
/// `client_id` + `client_secret`. Errors: [`ApiError::InvalidClient`] when neither is usable.
fn client_credentials(
    req: &HttpRequest,
    form: &[(String, String)],
) -> Result<ClientCredentials, ApiError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        return value
            .to_str()
            .ok()
            .and_then(parse_basic)
            .ok_or(ApiError::InvalidClient);
    }
    match (field(form, "client_id"), field(form, "client_secret")) {
        (Some(id), Some(secret)) => Ok(ClientCredentials {
            id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        _ => Err(ApiError::InvalidClient),
    }
}

fn new_access_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::rng().random::<[u8; 32]>())
}

/// `POST /oauth/token`: issues an opaque bearer token.
///
/// Body `application/x-www-form-urlencoded`: `grant_type=client_credentials` (client
/// credentials in HTTP Basic or as `client_id`/`client_secret` fields) or
/// `grant_type=password` with non-empty `username`/`password` (access key id/secret) and the
/// client credentials (HTTP Basic, or the form fields); optional `scope`, echoed back.
/// Answers 200 `{"access_token", "token_type": "Bearer", "expires_in": secs, "scope"?}`.
/// Errors: 400 `invalid_request` (not a form, missing field), 400 `unsupported_grant_type`,
/// 401 `invalid_client` (missing or wrong client credentials).
pub async fn issue_token(
    req: HttpRequest,
    body: web::Bytes,
    shared: web::Data<Shared>,
) -> Result<HttpResponse, ApiError> {
    if !is_form(&req) {
        return Err(ApiError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded (RFC 6749 section 4.4.2)"
                .to_owned(),
        ));
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::InvalidRequest("the body is not UTF-8".to_owned()))?;
    let form = parse_form(text).map_err(ApiError::InvalidRequest)?;
    let grant_type = field(&form, "grant_type")
        .ok_or_else(|| ApiError::InvalidRequest("missing field `grant_type`".to_owned()))?;
    match grant_type {
        "client_credentials" => {}
        "password" => {
            for name in ["username", "password"] {
                if field(&form, name).is_none_or(str::is_empty) {
                    return Err(ApiError::InvalidRequest(format!(
                        "the password grant needs a non-empty `{name}`"
                    )));
                }
            }
        }
        other => return Err(ApiError::UnsupportedGrantType(other.to_owned())),
    }
    let credentials = client_credentials(&req, &form)?;
    let scope = field(&form, "scope").map(str::to_owned);

    let now = Instant::now();
    let mut state = shared.lock();
    if credentials.id != state.faults.client_id || credentials.secret != state.faults.client_secret
    {
        return Err(ApiError::InvalidClient);
    }
    let ttl_secs = state.faults.token_ttl_secs;
    let access_token = new_access_token();
    state.tokens.retain(|_, issued| issued.expires_at > now);
    state.tokens.insert(
        access_token.clone(),
        IssuedToken {
            tenant: credentials.id,
            expires_at: now + Duration::from_secs(ttl_secs),
        },
    );
    state.records.tokens_issued += 1;
    drop(state);

    let mut body = json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl_secs,
    });
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decode_handles_plus_and_percent_escapes() {
        assert_eq!(form_decode("a+b%3Ac%25").as_deref(), Some("a b:c%"));
        assert_eq!(form_decode("caf%C3%A9").as_deref(), Some("café"));
        assert_eq!(form_decode("bad%2"), None);
        assert_eq!(form_decode("bad%zz"), None);
        assert_eq!(form_decode("%FF"), None);
    }

    #[test]
    fn parse_form_keeps_order_and_decodes_names_and_values() {
        let form = parse_form("grant_type=client_credentials&scope=a+b&&flag").expect("valid");
        assert_eq!(
            form,
            vec![
                ("grant_type".to_owned(), "client_credentials".to_owned()),
                ("scope".to_owned(), "a b".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert!(parse_form("x=%G0").is_err());
    }

    #[test]
    fn parse_basic_decodes_base64_then_url_decodes_each_part() {
        // "my%3Aid:s%26cret+x" → id "my:id", secret "s&cret x".
        let value = format!("Basic {}", STANDARD.encode("my%3Aid:s%26cret+x"));
        assert_eq!(
            parse_basic(&value),
            Some(ClientCredentials {
                id: "my:id".to_owned(),
                secret: "s&cret x".to_owned(),
            })
        );
        let lower = format!("basic {}", STANDARD.encode("id:secret"));
        assert_eq!(parse_basic(&lower).map(|c| c.secret), Some("secret".into()));
    }

    #[test]
    fn parse_basic_rejects_other_schemes_and_malformed_values() {
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!not-base64"), None);
        assert_eq!(
            parse_basic(&format!("Basic {}", STANDARD.encode("nocolon"))),
            None
        );
        assert_eq!(parse_basic("Basic"), None);
    }

    #[test]
    fn parse_bearer_accepts_any_scheme_case_and_rejects_empty_tokens() {
        assert_eq!(parse_bearer("Bearer abc"), Some("abc"));
        assert_eq!(parse_bearer("bearer  abc "), Some("abc"));
        assert_eq!(parse_bearer("Bearer "), None);
        assert_eq!(parse_bearer("Basic abc"), None);
    }

    #[test]
    fn access_tokens_are_long_and_distinct() {
        let a = new_access_token();
        let b = new_access_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
