//! `GET /stream`: the WebSocket export stream. One [`ExportStreamActor`] per connection; the
//! context's output stream is wrapped so the actor learns how many bytes the socket has taken
//! ([`Flushed`]) and never buffers more than its window for a slow client. A request that is
//! not a valid WebSocket handshake is answered with a JSON error ([`handshake_error`]).

use actix_web::http::header::{HeaderValue, SEC_WEBSOCKET_VERSION, UPGRADE};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use actix_web_actors::ws;
use futures::StreamExt;
use switchboard_actors::exports::{ExportStreamActor, Flushed};

use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// The JSON answer to a request that is not a valid WebSocket handshake: 400
/// `websocket_upgrade_expected` without `Upgrade: websocket` and `Connection: upgrade`; 400
/// `invalid_websocket_handshake` without `Sec-WebSocket-Version` or with a bad
/// `Sec-WebSocket-Key`; 426 `unsupported_websocket_version` (with `Upgrade: websocket` and
/// `Sec-WebSocket-Version: 13`) for a version other than 13; 405 `method_not_allowed` for a
/// method other than GET.
pub fn handshake_error(e: ws::HandshakeError) -> HttpResponse {
    use ws::HandshakeError::*;
    let message = e.to_string();
    let (status, code) = match e {
        GetMethodRequired => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        NoWebsocketUpgrade | NoConnectionUpgrade => {
            (StatusCode::BAD_REQUEST, "websocket_upgrade_expected")
        }
        NoVersionHeader | BadWebsocketKey => {
            (StatusCode::BAD_REQUEST, "invalid_websocket_handshake")
        }
        UnsupportedVersion => (
            StatusCode::UPGRADE_REQUIRED,
            "unsupported_websocket_version",
        ),
    };
    let mut response = ApiError::new(status, code, message).error_response();
    if status == StatusCode::UPGRADE_REQUIRED {
        let headers = response.headers_mut();
        headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
    }
    response
}

/// The handler: WebSocket handshake, then the actor.
#[utoipa::path(
    get,
    path = "/stream",
    tag = "exports",
    operation_id = "export_stream",
    summary = "WebSocket export stream (RFC 6455 upgrade)",
    description = include_str!("stream.md"),
    params(
        ("Upgrade" = String, Header, description = "`websocket`."),
        ("Connection" = String, Header, description = "`Upgrade`."),
        ("Sec-WebSocket-Version" = String, Header, description = "`13`."),
        ("Sec-WebSocket-Key" = String, Header, description = "The handshake's nonce: 16 \\
            bytes, base64."),
    ),
    responses(
        (status = 101, description = "Switching Protocols: the WebSocket is open; the frames \\
            are described above.", headers(
                ("Upgrade" = String, description = "`websocket`."),
                ("Sec-WebSocket-Accept" = String, description = "The handshake's answer."),
            )),
        (status = 400, description = "`websocket_upgrade_expected` (no `Upgrade: websocket` \\
            or no `Connection: upgrade`) or `invalid_websocket_handshake` (no \\
            `Sec-WebSocket-Version`, or a bad `Sec-WebSocket-Key`).", body = ErrorBody),
        (status = 426, description = "`unsupported_websocket_version`: only version 13 is \\
            spoken.", body = ErrorBody, headers(
                ("Upgrade" = String, description = "`websocket`."),
                ("Sec-WebSocket-Version" = String, description = "`13`."),
            )),
    ),
)]
pub async fn stream(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let mut response = match ws::handshake(&req) {
        Ok(response) => response,
        Err(e) => return Ok(handshake_error(e)),
    };
    let actor = ExportStreamActor::new(state.exports.clone());
    let (addr, out) = ws::WebsocketContext::create_with_addr(actor, payload);
    let mut taken = 0u64;
    let counted = out.map(move |item| {
        if let Ok(bytes) = &item {
            taken += bytes.len() as u64;
            addr.do_send(Flushed(taken));
        }
        item
    });
    Ok(response.streaming(counted))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handshake_errors_are_json_errors_with_their_status() {
        use ws::HandshakeError::*;
        for (e, status) in [
            (NoWebsocketUpgrade, 400),
            (NoConnectionUpgrade, 400),
            (NoVersionHeader, 400),
            (BadWebsocketKey, 400),
            (UnsupportedVersion, 426),
            (GetMethodRequired, 405),
        ] {
            let response = handshake_error(e);
            assert_eq!(response.status().as_u16(), status);
            assert_eq!(
                response.headers().get("content-type").map(|v| v.as_bytes()),
                Some(&b"application/json"[..])
            );
        }
        let response = handshake_error(UnsupportedVersion);
        assert_eq!(
            response
                .headers()
                .get(SEC_WEBSOCKET_VERSION)
                .map(|v| v.as_bytes()),
            Some(&b"13"[..])
        );
    }
}
