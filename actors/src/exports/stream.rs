//! ExportStreamActor: one WebSocket export stream (seed 003). Reads the stream request,
//! starts (or resumes) the export job, pages its records, detects schema drift, sends each
//! chunk as one binary message, and advances the job's checkpoint — when a chunk has been
//! handed to the socket (`ack_window` 0) or acknowledged by the client (`ack_window` W).
//!
//! Pages are fetched ahead — up to [`PREFETCH_PAGES`] in flight, fewer when the ack window is
//! smaller — and processed strictly in offset order; a short page cancels the speculative
//! fetches after it and paging resumes from the true next offset, so nothing is skipped. A
//! page of one shape that fits `max_payload_size` is sent as received (its bytes are the
//! payload; one scan counts the records and checks their shape); drift and splitting take the
//! record-by-record path.
//!
//! Memory stays bounded for a slow client: chunks beyond the window wait in an outbox of at
//! most one page, fetching stops while fewer than W chunks are free (or, with W = 0, while more
//! than two chunks' bytes are still waiting for the socket — the route wraps the context's
//! output stream and reports the bytes the socket has taken, [`Flushed`]). The checkpoint
//! advances per chunk in memory and is written every [`CHECKPOINT_INTERVAL`] and when the
//! stream ends.
//!
//! Close codes: 1002 first message not JSON; 1003 invalid request (reason names the field) or
//! unexpected message; 1009 a single record over `max_payload_size`; 1011 upstream failure or
//! schema drift in `fail` mode; 1000 after `complete`. Reasons fit RFC 6455's 123 bytes.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason};
use awc::http::Method;
use serde_json::{json, Value};

use super::checkpoint::{Checkpoint, CheckpointStore};
use super::frame::{encode, encode_page, key_set, same_shape, schema_fingerprint, Chunk};
use super::request::{validate_request, OnDrift, StreamRequest};
use super::scan::scan_page;
use crate::audit::{AuditActor, AuditEvent, AuditOutcome};
use crate::cxone::{ApiCall, CxoneClient, CxoneHandle};
use crate::metrics::METRICS;

/// Pages fetched ahead at most.
pub const PREFETCH_PAGES: usize = 3;
/// How often a moved checkpoint is written.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

/// Longest close reason, bytes (RFC 6455: 125-byte control payload less the 2-byte code).
pub const CLOSE_REASON_MAX: usize = 123;

/// What every stream shares.
#[derive(Clone)]
pub struct ExportOptions {
    /// CXone access.
    pub cxone: CxoneHandle,
    /// Checkpoints.
    pub store: Arc<dyn CheckpointStore>,
    /// Data-lake sink directory.
    pub sink_dir: Option<PathBuf>,
    /// Ping interval.
    pub heartbeat: Duration,
    /// Silence after which a client is dropped.
    pub client_timeout: Duration,
    /// Audit log.
    pub audit: Option<Addr<AuditActor>>,
}

/// The socket has taken this many bytes of the stream so far (sent by the route's wrapper of
/// the context's output stream).
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "()")]
pub struct Flushed(pub u64);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitingRequest,
    Starting,
    Streaming,
    Finished,
}

#[derive(Default)]
struct Stats {
    chunks: u64,
    records: u64,
    bytes: u64,
    chunk_micros: u128,
}

/// A message waiting for the window.
enum Outgoing {
    Chunk(Chunk),
    Text(Value),
}

/// A fetched page waiting for its turn: (limit asked, body, when its fetch started).
type ReadyPage = (usize, Vec<u8>, Instant);

/// One export stream.
pub struct ExportStreamActor {
    opts: ExportOptions,
    client: Option<CxoneClient>,
    phase: Phase,
    request: Option<StreamRequest>,
    job_id: String,
    baseline: Option<Vec<String>>,
    /// Next offset to request, and its page index (for the chunk size matrix).
    fetch_offset: u64,
    fetch_page: usize,
    /// Next offset to process, and pages processed.
    process_offset: u64,
    processed_pages: usize,
    /// Speculative fetches of an older generation are ignored when they land.
    generation: u64,
    in_flight: usize,
    ready: BTreeMap<u64, ReadyPage>,
    outbox: VecDeque<Outgoing>,
    exhausted: bool,
    /// The checkpoint: first offset not yet delivered.
    delivered: u64,
    checkpoint_dirty: bool,
    produced: u64,
    written: u64,
    /// `ack_window` 0: (stream bytes at the chunk's end, offset after it).
    unflushed: VecDeque<(u64, u64)>,
    /// `ack_window` W: offsets after each unacknowledged chunk.
    unacked: VecDeque<u64>,
    last_seen: Instant,
    started: Instant,
    stats: Stats,
}

/// Frame size of a server-to-client WebSocket message of `len` payload bytes (unmasked).
fn frame_size(len: usize) -> u64 {
    let header = if len <= 125 {
        2
    } else if len <= 65_535 {
        4
    } else {
        10
    };
    (len + header) as u64
}

/// Cuts a close reason to [`CLOSE_REASON_MAX`] bytes on a character boundary.
pub fn close_reason(text: &str) -> String {
    if text.len() <= CLOSE_REASON_MAX {
        return text.to_string();
    }
    let mut end = CLOSE_REASON_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

impl ExportStreamActor {
    /// A stream waiting for its request.
    pub fn new(opts: ExportOptions) -> Self {
        ExportStreamActor {
            opts,
            client: None,
            phase: Phase::AwaitingRequest,
            request: None,
            job_id: String::new(),
            baseline: None,
            fetch_offset: 0,
            fetch_page: 0,
            process_offset: 0,
            processed_pages: 0,
            generation: 0,
            in_flight: 0,
            ready: BTreeMap::new(),
            outbox: VecDeque::new(),
            exhausted: false,
            delivered: 0,
            checkpoint_dirty: false,
            produced: 0,
            written: 0,
            unflushed: VecDeque::new(),
            unacked: VecDeque::new(),
            last_seen: Instant::now(),
            started: Instant::now(),
            stats: Stats::default(),
        }
    }

    fn client(&mut self) -> CxoneClient {
        self.client
            .get_or_insert_with(|| self.opts.cxone.client())
            .clone()
    }

    fn ack_window(&self) -> usize {
        self.request.as_ref().map_or(0, |r| r.ack_window)
    }

    fn send_text(&mut self, ctx: &mut ws::WebsocketContext<Self>, value: Value) {
        let text = value.to_string();
        self.produced += frame_size(text.len());
        ctx.text(text);
    }

    fn close(&mut self, ctx: &mut ws::WebsocketContext<Self>, code: CloseCode, reason: &str) {
        if self.phase == Phase::Finished {
            return;
        }
        let description = close_reason(reason);
        if code != CloseCode::Normal {
            log::warn!(
                "actor=ExportStreamActor event=closed export_job_id={} code={} reason={description:?}",
                self.job_id,
                u16::from(code)
            );
        }
        self.save_if_moved();
        self.phase = Phase::Finished;
        self.record(
            code == CloseCode::Normal,
            (code != CloseCode::Normal).then(|| description.clone()),
        );
        ctx.close(Some(CloseReason {
            code,
            description: Some(description),
        }));
        ctx.stop();
    }

    fn save_checkpoint(&mut self) -> std::io::Result<()> {
        let Some(req) = &self.request else {
            return Ok(());
        };
        self.opts.store.save(&Checkpoint {
            export_job_id: self.job_id.clone(),
            report_id: req.report_id.clone(),
            next_offset: self.delivered,
            baseline: self.baseline.clone(),
        })?;
        self.checkpoint_dirty = false;
        Ok(())
    }

    fn save_if_moved(&mut self) {
        if self.checkpoint_dirty {
            if let Err(e) = self.save_checkpoint() {
                log::error!(
                    "actor=ExportStreamActor event=checkpoint_failed export_job_id={} error={e}",
                    self.job_id
                );
            }
        }
    }

    fn start(&mut self, req: StreamRequest, ctx: &mut ws::WebsocketContext<Self>) {
        self.phase = Phase::Starting;
        let resume = match &req.export_job_id {
            Some(id) => match self.opts.store.load(id) {
                Ok(Some(c)) if c.report_id != req.report_id => {
                    let reason = format!("export_job_id belongs to report {}", c.report_id);
                    return self.close(ctx, CloseCode::Unsupported, &reason);
                }
                Ok(found) => Some((id.clone(), found)),
                Err(e) => {
                    return self.close(
                        ctx,
                        CloseCode::Error,
                        &format!("checkpoint unreadable: {e}"),
                    )
                }
            },
            None => None,
        };
        self.request = Some(req.clone());
        let client = self.client();
        let fut = async move {
            if let Some((id, checkpoint)) = resume {
                return Ok((id, checkpoint));
            }
            let mut call = ApiCall::new(
                "start_export",
                Method::POST,
                client.handle().settings().paths.start_export.clone(),
                req.report_id.clone(),
            );
            call.json =
                serde_json::to_vec(&json!({"report_id": req.report_id, "format": "json"})).ok();
            let resp = client
                .send(&call)
                .await
                .map_err(|e| format!("export could not start: {e}"))?;
            let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
            match body["id"].as_str() {
                Some(id) if !id.is_empty() => Ok((id.to_string(), None)),
                _ => Err("export could not start: the answer has no job id".to_string()),
            }
        };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| match result {
            Err(e) => act.close(ctx, CloseCode::Error, &e),
            Ok((job_id, checkpoint)) => {
                act.job_id = job_id;
                if let Some(c) = checkpoint {
                    act.delivered = c.next_offset;
                    act.baseline = c.baseline;
                }
                let page = act.request.as_ref().map_or(0, |r| r.page_index_at(act.delivered));
                (act.fetch_offset, act.process_offset) = (act.delivered, act.delivered);
                (act.fetch_page, act.processed_pages) = (page, page);
                if let Err(e) = act.save_checkpoint() {
                    return act.close(ctx, CloseCode::Error, &format!("checkpoint not written: {e}"));
                }
                act.phase = Phase::Streaming;
                METRICS.export_streams.inc();
                let started = json!({"type": "started", "export_job_id": act.job_id, "offset": act.delivered});
                act.send_text(ctx, started);
                act.pump(ctx);
            }
        }));
    }

    /// Sends what the window allows, processes fetched pages in order, fetches ahead, or
    /// completes.
    fn pump(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        self.flush_outbox(ctx);
        self.process_ready(ctx);
        if self.phase != Phase::Streaming {
            return;
        }
        if self.exhausted {
            let all_delivered = if self.ack_window() > 0 {
                self.unacked.is_empty()
            } else {
                self.unflushed.is_empty()
            };
            if self.outbox.is_empty() && all_delivered {
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
    fn can_fetch(&self) -> bool {
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

    fn fetch(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        let Some(req) = &self.request else { return };
        let limit = req.chunk_size(self.fetch_page);
        let (offset, generation) = (self.fetch_offset, self.generation);
        self.fetch_offset += limit as u64;
        self.fetch_page += 1;
        self.in_flight += 1;
        let client = self.client();
        let path = format!(
            "{}?limit={limit}&offset={offset}",
            CxoneHandle::path(
                &client.handle().settings().paths.export_records,
                &[("id", &self.job_id)]
            )
        );
        let call = ApiCall::new("export_records", Method::GET, path, self.job_id.clone());
        let fetched = Instant::now();
        ctx.spawn(
            async move { client.send(&call).await }
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
    fn invalidate_ahead(&mut self) {
        self.generation += 1;
        self.in_flight = 0;
        self.ready.clear();
        self.fetch_offset = self.process_offset;
        self.fetch_page = self.processed_pages;
    }

    /// Processes fetched pages in offset order while the outbox is empty.
    fn process_ready(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
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
    fn process_page(
        &mut self,
        offset: u64,
        body: &[u8],
        fetched: Instant,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> Option<usize> {
        let req = self.request.clone()?;
        let scan = match scan_page(body, self.baseline.as_deref()) {
            Ok(scan) => scan,
            Err(e) => {
                self.close(
                    ctx,
                    CloseCode::Error,
                    &format!("records page is not a JSON array: {e}"),
                );
                return None;
            }
        };
        if scan.count == 0 {
            return Some(0);
        }
        if self.baseline.is_none() {
            self.baseline = scan.first_keys;
        }
        if scan.drift_at.is_none() {
            let schema = schema_fingerprint(self.baseline.as_deref().unwrap_or_default());
            if let Some(chunk) = encode_page(
                &self.job_id,
                offset,
                scan.count,
                body,
                &schema,
                req.compression,
                req.max_payload_size,
            ) {
                return self.queue_chunk(chunk, fetched, ctx).then_some(scan.count);
            }
        }
        let records: Vec<Value> = match serde_json::from_slice(body) {
            Ok(r) => r,
            Err(e) => {
                self.close(
                    ctx,
                    CloseCode::Error,
                    &format!("records page is not a JSON array: {e}"),
                );
                return None;
            }
        };
        self.page(offset, &records, &req, fetched, ctx)
            .then_some(records.len())
    }

    /// Record by record: drift checks, splitting. False when the stream was closed.
    fn page(
        &mut self,
        offset: u64,
        records: &[Value],
        req: &StreamRequest,
        fetched: Instant,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> bool {
        let mut segment = 0;
        for (i, record) in records.iter().enumerate() {
            let Some(base) = &self.baseline else {
                self.baseline = Some(key_set(record));
                continue;
            };
            if same_shape(record, base) {
                continue;
            }
            let (base, keys) = (base.clone(), key_set(record));
            if !self.emit(
                offset + segment as u64,
                &records[segment..i],
                req,
                fetched,
                ctx,
            ) {
                return false;
            }
            let missing: Vec<&String> = base.iter().filter(|k| !keys.contains(k)).collect();
            let added: Vec<&String> = keys.iter().filter(|k| !base.contains(k)).collect();
            let at = offset + i as u64;
            self.outbox.push_back(Outgoing::Text(
                json!({"type": "schema_drift", "offset": at, "missing": missing, "added": added}),
            ));
            if req.on_schema_drift == OnDrift::Fail {
                self.flush_all(ctx);
                self.close(
                    ctx,
                    CloseCode::Error,
                    &format!("schema drift at offset {at}"),
                );
                return false;
            }
            self.baseline = Some(keys);
            segment = i;
        }
        self.emit(
            offset + segment as u64,
            &records[segment..],
            req,
            fetched,
            ctx,
        )
    }

    /// Encodes records of one shape into queued chunks; false when the stream was closed.
    fn emit(
        &mut self,
        offset: u64,
        records: &[Value],
        req: &StreamRequest,
        fetched: Instant,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> bool {
        if records.is_empty() {
            return true;
        }
        let schema = schema_fingerprint(self.baseline.as_deref().unwrap_or_default());
        match encode(
            &self.job_id,
            offset,
            records,
            &schema,
            req.compression,
            req.max_payload_size,
        ) {
            Ok(chunks) => chunks
                .into_iter()
                .all(|chunk| self.queue_chunk(chunk, fetched, ctx)),
            Err(e) => {
                self.flush_all(ctx);
                self.close(ctx, CloseCode::Size, &e.to_string());
                false
            }
        }
    }

    /// Writes the chunk to the sink (when on) and queues it; false when the stream was closed.
    fn queue_chunk(
        &mut self,
        chunk: Chunk,
        fetched: Instant,
        ctx: &mut ws::WebsocketContext<Self>,
    ) -> bool {
        if let Some(dir) = &self.opts.sink_dir {
            if let Err(e) =
                super::sink::write_chunk(dir, &self.job_id, chunk.offset, &chunk.message)
            {
                self.close(ctx, CloseCode::Error, &format!("sink write failed: {e}"));
                return false;
            }
        }
        self.stats.chunks += 1;
        self.stats.records += chunk.count as u64;
        self.stats.bytes += chunk.payload_bytes as u64;
        self.stats.chunk_micros += fetched.elapsed().as_micros();
        METRICS.export_chunks.inc();
        METRICS.export_records.inc_by(chunk.count as u64);
        METRICS.export_bytes.inc_by(chunk.payload_bytes as u64);
        self.outbox.push_back(Outgoing::Chunk(chunk));
        true
    }

    fn send(&mut self, out: Outgoing, ctx: &mut ws::WebsocketContext<Self>) {
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
    fn flush_outbox(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
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
    fn flush_all(&mut self, ctx: &mut ws::WebsocketContext<Self>) {
        while let Some(out) = self.outbox.pop_front() {
            self.send(out, ctx);
        }
    }

    fn ack(&mut self, offset: u64, ctx: &mut ws::WebsocketContext<Self>) {
        if !self.unacked.contains(&offset) {
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

    fn record(&self, complete: bool, error: Option<String>) {
        let secs = self.started.elapsed().as_secs_f64();
        let details = json!({
            "chunks": self.stats.chunks,
            "records": self.stats.records,
            "bytes": self.stats.bytes,
            "average_chunk_latency_ms": if self.stats.chunks == 0 { 0.0 } else { self.stats.chunk_micros as f64 / self.stats.chunks as f64 / 1000.0 },
            "records_per_sec": self.stats.records as f64 / secs.max(1e-9),
            "next_offset": self.delivered,
            "complete": complete,
        });
        log::info!(
            "actor=ExportStreamActor event=stream_ended export_job_id={} stats={details}",
            self.job_id
        );
        if let Some(audit) = &self.opts.audit {
            let mut event = AuditEvent::now(
                "ExportStreamActor",
                "export_stream",
                self.job_id.clone(),
                self.job_id.clone(),
            );
            event.latency_ms = (secs * 1000.0) as u64;
            if let Some(e) = error {
                event.outcome = AuditOutcome::Failed;
                event.error = Some(e);
            }
            event.details = Some(details);
            audit.do_send(event);
        }
    }

    fn text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return self.close(ctx, CloseCode::Protocol, &format!("not JSON: {e}")),
        };
        match self.phase {
            Phase::AwaitingRequest => match validate_request(&value) {
                Ok(req) => self.start(req, ctx),
                Err(problems) => {
                    let reason = problems
                        .iter()
                        .map(|p| format!("{}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    self.close(ctx, CloseCode::Unsupported, &reason)
                }
            },
            Phase::Starting | Phase::Streaming => {
                match (value["type"].as_str(), value["offset"].as_u64()) {
                    (Some("ack"), Some(offset)) if self.ack_window() > 0 => self.ack(offset, ctx),
                    (Some("ack"), _) => {}
                    _ => self.close(
                        ctx,
                        CloseCode::Unsupported,
                        "only ack messages are expected after the request",
                    ),
                }
            }
            Phase::Finished => {}
        }
    }
}

impl Actor for ExportStreamActor {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.run_interval(self.opts.heartbeat, |act, ctx| {
            if act.last_seen.elapsed() > act.opts.client_timeout {
                log::warn!(
                    "actor=ExportStreamActor event=client_timeout export_job_id={}",
                    act.job_id
                );
                act.close(ctx, CloseCode::Away, "client timed out");
                return;
            }
            act.produced += frame_size(0);
            ctx.ping(b"");
        });
        ctx.run_interval(CHECKPOINT_INTERVAL, |act, ctx| {
            if act.checkpoint_dirty {
                if let Err(e) = act.save_checkpoint() {
                    act.close(
                        ctx,
                        CloseCode::Error,
                        &format!("checkpoint not written: {e}"),
                    );
                }
            }
        });
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        self.save_if_moved();
        if matches!(self.phase, Phase::Streaming | Phase::Starting) {
            self.record(
                false,
                Some("the connection ended before the export completed".into()),
            );
        }
        if self.job_id.is_empty() || self.phase == Phase::AwaitingRequest {
            return;
        }
        METRICS.export_streams.dec();
    }
}

/// Client frames.
impl StreamHandler<Result<ws::Message, ws::ProtocolError>> for ExportStreamActor {
    fn handle(&mut self, msg: Result<ws::Message, ws::ProtocolError>, ctx: &mut Self::Context) {
        self.last_seen = Instant::now();
        match msg {
            Ok(ws::Message::Text(text)) => self.text(&text, ctx),
            Ok(ws::Message::Binary(_)) => self.close(
                ctx,
                CloseCode::Unsupported,
                "binary messages are not accepted",
            ),
            Ok(ws::Message::Ping(p)) => {
                self.produced += frame_size(p.len());
                ctx.pong(&p);
            }
            Ok(ws::Message::Close(reason)) => {
                if self.phase != Phase::Finished {
                    self.save_if_moved();
                    self.record(
                        false,
                        Some("the client closed before the export completed".into()),
                    );
                    self.phase = Phase::Finished;
                }
                ctx.close(reason);
                ctx.stop();
            }
            Ok(_) => {}
            Err(e) => {
                log::warn!("actor=ExportStreamActor event=protocol_error error={e}");
                ctx.stop();
            }
        }
    }
}

/// The socket took more bytes: the checkpoint moves past the chunks it took; fetch more.
impl Handler<Flushed> for ExportStreamActor {
    type Result = ();

    fn handle(&mut self, msg: Flushed, ctx: &mut Self::Context) {
        self.written = msg.0;
        while self
            .unflushed
            .front()
            .is_some_and(|(at, _)| *at <= self.written)
        {
            if let Some((_, end)) = self.unflushed.pop_front() {
                self.delivered = end;
                self.checkpoint_dirty = true;
            }
        }
        self.pump(ctx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_reasons_fit_123_bytes_on_a_char_boundary() {
        let long = "é".repeat(100);
        let r = close_reason(&long);
        assert!(r.len() <= 123);
        assert!(long.starts_with(&r));
        assert_eq!(close_reason("short"), "short");
    }

    #[test]
    fn frame_sizes_follow_rfc_6455_length_encoding() {
        assert_eq!(frame_size(0), 2);
        assert_eq!(frame_size(125), 127);
        assert_eq!(frame_size(126), 130);
        assert_eq!(frame_size(70_000), 70_010);
    }
}
