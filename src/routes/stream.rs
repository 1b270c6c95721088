//! `GET /stream`: the WebSocket export stream. One [`ExportStreamActor`] per connection; the
//! context's output stream is wrapped so the actor learns how many bytes the socket has taken
//! ([`Flushed`]) and never buffers more than its window for a slow client.

use actix_web::{web, HttpRequest, HttpResponse};
use actix_web_actors::ws;
use futures::StreamExt;
use switchboard_actors::exports::{ExportStreamActor, Flushed};

use crate::state::AppState;

/// The handler: WebSocket handshake, then the actor.
pub async fn stream(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let mut response = ws::handshake(&req)?;
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
