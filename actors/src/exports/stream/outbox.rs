//! The outbox: chunks and messages waiting for the ack window, and acknowledgements.

use actix_web_actors::ws::{self, CloseCode};

use super::{frame_size, ExportStreamActor, Outgoing};

impl ExportStreamActor {
    pub(super) fn send(&mut self, out: Outgoing, ctx: &mut ws::WebsocketContext<Self>) {
        match out {
            Outgoing::Text(v) => self.send_text(ctx, v),
            Outgoing::Chunk(chunk) => {
                let end = chunk.offset + chunk.count as u64;
                self.produced += frame_size(chunk.message.len());
                ctx.binary(chunk.message);
                if self.ack_window() > 0 {
                    self.unacked.push_back(end);
                } else {
                    self.unflushed.push_back((self.produced, end));
                }
            }
        }
    }

    /// Sends queued messages while fewer than W chunks are unacknowledged.
    pub(super) fn flush_outbox(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let window = self.ack_window();
        while let Some(front) = self.outbox.front() {
            if matches!(front, Outgoing::Chunk(_)) && window > 0 && self.unacked.len() >= window {
                return;
            }
            if let Some(out) = self.outbox.pop_front() {
                self.send(out, ctx);
            }
        }
    }

    /// Sends everything queued, whatever the window (before a final message and close).
    pub(super) fn flush_all(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        while let Some(out) = self.outbox.pop_front() {
            self.send(out, ctx);
        }
    }

    pub(super) fn ack(&mut self, offset: u64, ctx: &mut ws::WebsocketContext<Self>) {
        // Chunk ends are queued in increasing order.
        if self.unacked.binary_search(&offset).is_err() {
            if offset <= self.delivered {
                return;
            }
            return self.close(
                ctx,
                CloseCode::Unsupported,
                &format!("ack offset {offset} is not the end of a sent chunk"),
            );
        }
        while self.unacked.front().is_some_and(|end| *end <= offset) {
            self.unacked.pop_front();
        }
        self.delivered = offset;
        self.checkpoint_dirty = true;
        self.pump(ctx);
    }
}
