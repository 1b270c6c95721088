//! Paging: fetching ahead within the window, processing pages in offset order, the fast path
//! for pages of one shape, drift and splitting on the record-by-record path.

use std::time::Instant;

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode};
use serde_json::{json, Value};

use super::super::frame::{encode, encode_page, key_set, same_shape, Chunk};
use super::super::request::OnDrift;
use super::super::scan::scan_page;
use super::{ExportStreamActor, Outgoing, Phase, PREFETCH_PAGES};
use crate::cxone::api;
use crate::metrics::METRICS;

impl ExportStreamActor {
    /// Sends what the window allows, processes fetched pages in order, fetches ahead, or
    /// completes.
    pub(super) fn pump(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        self.flush_outbox(ctx);
        self.process_ready(ctx);
        if self.phase != Phase::Streaming {
            return;
        }
        if self.exhausted {
            let all_delivered = if self.ack_window() > 0 {
                self.unacked.is_empty()
            } else {
                self.unflushed
                    .back()
                    .is_none_or(|(at, _)| *at <= self.written)
            };
            if self.outbox.is_empty() && all_delivered {
                // Complete: every record was delivered, whatever was still in transit.
                self.unflushed.clear();
                if self.delivered != self.process_offset {
                    self.delivered = self.process_offset;
                    self.checkpoint_dirty = true;
                }
                let complete = json!({
                    "type": "complete",
                    "export_job_id": self.job_id,
                    "total_records": self.delivered,
                    "total_chunks": self.stats.chunks,
                    "total_bytes": self.stats.bytes,
                });
                self.send_text(ctx, complete);
                self.close(ctx, CloseCode::Normal, "complete");
            }
            return;
        }
        while self.can_fetch() {
            self.fetch(ctx);
        }
    }

    /// Whether another page may be fetched: the outbox is empty, fewer than
    /// [`PREFETCH_PAGES`] pages are ahead, and the window has room for them.
    pub(super) fn can_fetch(&self) -> bool {
        let Some(req) = &self.request else {
            return false;
        };
        let ahead = self.in_flight + self.ready.len();
        if !self.outbox.is_empty() || ahead >= PREFETCH_PAGES {
            return false;
        }
        if req.ack_window > 0 {
            self.unacked.len() + ahead < req.ack_window
        } else {
            self.produced.saturating_sub(self.written) <= 2 * (req.max_payload_size as u64 + 1024)
        }
    }

    pub(super) fn fetch(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(req) = &self.request else { return };
        let limit = req.chunk_size(self.fetch_page);
        let (offset, generation) = (self.fetch_offset, self.generation);
        self.fetch_offset += limit as u64;
        self.fetch_page += 1;
        self.in_flight += 1;
        let client = self.client();
        let job_id = self.job_id.clone();
        let fetched = Instant::now();
        ctx.spawn(
            async move { api::export_records(&client, &job_id, limit, offset).await }
                .into_actor(self)
                .map(move |result, act, ctx| {
                    if generation != act.generation || act.phase != Phase::Streaming {
                        return;
                    }
                    act.in_flight -= 1;
                    match result {
                        Ok(resp) => {
                            act.ready.insert(offset, (limit, resp.body, fetched));
                            act.pump(ctx);
                        }
                        Err(e) => {
                            act.close(ctx, CloseCode::Error, &format!("records page failed: {e}"))
                        }
                    }
                }),
        );
    }

    /// Forgets fetches in flight and pages ahead (a short or empty page was met).
    pub(super) fn invalidate_ahead(&mut self) {
        self.generation += 1;
        self.in_flight = 0;
        self.ready.clear();
        self.fetch_offset = self.process_offset;
        self.fetch_page = self.processed_pages;
    }

    /// Processes fetched pages in offset order while the outbox is empty.
    pub(super) fn process_ready(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        while self.phase == Phase::Streaming && self.outbox.is_empty() {
            let Some((limit, body, fetched)) = self.ready.remove(&self.process_offset) else {
                return;
            };
            let Some(count) = self.process_page(self.process_offset, &body, fetched, ctx) else {
                return;
            };
            if count == 0 {
                self.exhausted = true;
                self.invalidate_ahead();
                return;
            }
            self.process_offset += count as u64;
            self.processed_pages += 1;
            if count < limit {
                self.invalidate_ahead();
            }
            self.flush_outbox(ctx);
        }
    }

    /// Turns a page into queued messages; `None` when the stream was closed.
    pub(super) fn process_page(
        &mut self,
        offset: u64,
        body: &[u8],
        fetched: Instant,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Option<usize> {
        let req = self.request.as_ref()?;
        let (compression, max_payload) = (req.compression, req.max_payload_size);
        let scan = match scan_page(body, self.baseline.as_deref()) {
            Ok(scan) => scan,
            Err(e) => return self.not_an_array(e, ctx),
        };
        if scan.count == 0 {
            return Some(0);
        }
        if self.baseline.is_none() {
            self.set_baseline(scan.first_keys);
        }
        if scan.drift_at.is_none() {
            if let Some(chunk) = encode_page(
                &self.job_id,
                offset,
                scan.count,
                body,
                &self.schema,
                compression,
                max_payload,
            ) {
                if !self.sink_page(offset, body, ctx) {
                    return None;
                }
                self.queue_chunk(chunk, fetched);
                return Some(scan.count);
            }
        }
        let records: Vec<Value> = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => return self.not_an_array(e, ctx),
        };
        self.page(offset, &records, fetched, ctx)
            .then_some(records.len())
    }

    /// Closes 1011: CXone answered a records page that is not a JSON array.
    fn not_an_array<T>(
        &mut self,
        e: serde_json::Error,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Option<T> {
        self.close(
            ctx,
            CloseCode::Error,
            &format!("records page is not a JSON array: {e}"),
        );
        None
    }

    /// Record by record: drift checks, splitting. False when the stream was closed.
    pub(super) fn page(
        &mut self,
        offset: u64,
        records: &[Value],
        fetched: Instant,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> bool {
        let mut segment = 0;
        for (i, record) in records.iter().enumerate() {
            let Some(base) = &self.baseline else {
                self.set_baseline(Some(key_set(record)));
                continue;
            };
            if same_shape(record, base) {
                continue;
            }
            let (base, keys) = (base.clone(), key_set(record));
            if !self.emit(offset + segment as u64, &records[segment..i], fetched, ctx) {
                return false;
            }
            let missing: Vec<&String> = base.iter().filter(|k| !keys.contains(k)).collect();
            let added: Vec<&String> = keys.iter().filter(|k| !base.contains(k)).collect();
            let at = offset + i as u64;
            self.outbox.push_back(Outgoing::Text(
                json!({"type": "schema_drift", "offset": at, "missing": missing, "added": added}),
            ));
            let fail = self
                .request
                .as_ref()
                .is_some_and(|r| r.on_schema_drift == OnDrift::Fail);
            if fail {
                self.flush_all(ctx);
                self.close(
                    ctx,
                    CloseCode::Error,
                    &format!("schema drift at offset {at}"),
                );
                return false;
            }
            self.set_baseline(Some(keys));
            segment = i;
        }
        self.emit(offset + segment as u64, &records[segment..], fetched, ctx)
    }

    /// Encodes records of one shape into queued chunks; false when the stream was closed.
    pub(super) fn emit(
        &mut self,
        offset: u64,
        records: &[Value],
        fetched: Instant,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> bool {
        if records.is_empty() {
            return true;
        }
        let Some(req) = &self.request else {
            return false;
        };
        match encode(
            &self.job_id,
            offset,
            records,
            &self.schema,
            req.compression,
            req.max_payload_size,
        ) {
            Ok(chunks) => chunks.into_iter().all(|chunk| {
                let from = (chunk.offset - offset) as usize;
                if !self.write_sink(chunk.offset, &records[from..from + chunk.count], ctx) {
                    return false;
                }
                self.queue_chunk(chunk, fetched);
                true
            }),
            Err(e) => {
                self.flush_all(ctx);
                self.close(ctx, CloseCode::Size, &e.to_string());
                false
            }
        }
    }

    /// Writes a chunk's records to the sink, when it is on, before the chunk counts as
    /// delivered; false when that failed and the stream was closed.
    fn write_sink(
        &mut self,
        offset: u64,
        records: &[Value],
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> bool {
        let Some(dir) = &self.opts.sink_dir else {
            return true;
        };
        match super::super::sink::write_chunk(dir, &self.job_id, offset, records) {
            Ok(()) => true,
            Err(e) => {
                self.close(ctx, CloseCode::Error, &format!("sink write failed: {e}"));
                false
            }
        }
    }

    /// [`Self::write_sink`] for a page sent as received: its records are parsed only when the
    /// sink is on.
    fn sink_page(
        &mut self,
        offset: u64,
        body: &[u8],
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> bool {
        if self.opts.sink_dir.is_none() {
            return true;
        }
        match serde_json::from_slice::<Vec<Value>>(body) {
            Ok(records) => self.write_sink(offset, &records, ctx),
            Err(e) => {
                let reason = format!("sink write failed: payload: {e}");
                self.close(ctx, CloseCode::Error, &reason);
                false
            }
        }
    }

    /// Counts the chunk and queues it.
    fn queue_chunk(&mut self, chunk: Chunk, fetched: Instant) {
        self.stats.chunks += 1;
        self.stats.records += chunk.count as u64;
        self.stats.bytes += chunk.payload_bytes as u64;
        self.stats.chunk_micros += fetched.elapsed().as_micros();
        METRICS.export_chunks.inc();
        METRICS.export_records.inc_by(chunk.count as u64);
        METRICS.export_bytes.inc_by(chunk.payload_bytes as u64);
        self.outbox.push_back(Outgoing::Chunk(chunk));
    }
}
