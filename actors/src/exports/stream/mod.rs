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
//! stream ends, through a [`CheckpointWriter`]: the stream never waits for the state store.
//!
//! Close codes: 1002 first message not JSON; 1003 invalid request (reason names the field) or
//! unexpected message; 1009 a single record over `max_payload_size`; 1011 upstream failure or
//! schema drift in `fail` mode; 1001 when the client timed out or the service is stopping
//! ([`Drain::close_streams`]: the checkpoint is written first); 1000 after
//! `complete`. Reasons fit RFC 6455's 123 bytes.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode, CloseReason};
use serde_json::{json, Value};
use tokio_util::task::task_tracker::TaskTrackerToken;

use super::checkpoint::{checkpoint_writer, Checkpoint, CheckpointStore, CheckpointWriter};
use super::frame::{schema_fingerprint, Chunk};
use super::request::StreamRequest;
use crate::audit::{AuditActor, AuditEvent, AuditOutcome};
use crate::cxone::{CxoneClient, CxoneHandle};
use crate::drain::Drain;
use crate::metrics::METRICS;
use crate::settings::ExportSettings;

mod outbox;
mod paging;
mod session;

/// Pages fetched ahead at most.
pub const PREFETCH_PAGES: usize = 3;
/// How often a moved checkpoint is written.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(200);

/// With `ack_window` 0, bytes the socket has taken that may not have reached the client
/// (kernel send and receive buffers): the checkpoint stays behind them, so a client that drops
/// with unread data gets it again on resume — duplicates, never a gap. Acks make it exact.
pub const IN_TRANSIT_BYTES: u64 = 16 * 1024 * 1024;

/// The close reason of a stream the service's graceful stop closed (code 1001); the client
/// resumes with its `export_job_id` from the checkpoint.
pub const SHUTTING_DOWN: &str = "the service is shutting down; resume with the export_job_id";

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
    /// The service's graceful stop: streams close with 1001 when it closes them, and their
    /// checkpoint writes are waited for.
    pub drain: Drain,
}

impl ExportOptions {
    /// The options `export.*` sets: the sink under `sink_dir` (empty: none),
    /// `heartbeat_interval_secs`, `client_timeout_secs`; checkpoints in `store`, CXone through
    /// `cxone`, auditing to `audit`.
    pub fn from_settings(
        settings: &ExportSettings,
        store: Arc<dyn CheckpointStore>,
        cxone: &CxoneHandle,
        audit: Option<&Addr<AuditActor>>,
    ) -> Self {
        ExportOptions {
            cxone: cxone.clone(),
            store,
            sink_dir: (!settings.sink_dir.is_empty()).then(|| settings.sink_dir.clone().into()),
            heartbeat: Duration::from_secs(settings.heartbeat_interval_secs),
            client_timeout: Duration::from_secs(settings.client_timeout_secs),
            audit: audit.cloned(),
            drain: Drain::new(),
        }
    }

    /// The same options, with streams taking part in `drain`.
    pub fn with_drain(mut self, drain: Drain) -> Self {
        self.drain = drain;
        self
    }
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
    /// `schema_fingerprint` of `baseline` (set with it by `set_baseline`), for every chunk.
    schema: String,
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
    checkpoints: CheckpointWriter,
    produced: u64,
    written: u64,
    /// `ack_window` 0: (stream bytes at the chunk's end, offset after it), until the socket has
    /// taken [`IN_TRANSIT_BYTES`] beyond it.
    unflushed: VecDeque<(u64, u64)>,
    /// `ack_window` W: offsets after each unacknowledged chunk.
    unacked: VecDeque<u64>,
    last_seen: Instant,
    started: Instant,
    stats: Stats,
    /// Whether this stream was counted in the `export_streams` gauge (it is uncounted when it
    /// stops).
    counted: bool,
    /// Held while the stream lives: a graceful stop waits for it ([`Drain::settled`]).
    _alive: TaskTrackerToken,
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
            checkpoints: checkpoint_writer(opts.store.clone())
                .tracked_by(opts.drain.tracker().clone()),
            _alive: opts.drain.tracker().token(),
            opts,
            client: None,
            phase: Phase::AwaitingRequest,
            request: None,
            job_id: String::new(),
            baseline: None,
            schema: schema_fingerprint(&[]),
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
            counted: false,
        }
    }

    /// Sets the baseline key set, and the schema fingerprint chunks carry with it.
    fn set_baseline(&mut self, keys: Option<Vec<String>>) {
        self.schema = schema_fingerprint(keys.as_deref().unwrap_or_default());
        self.baseline = keys;
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

    /// The checkpoint as it stands, once the request is known.
    fn checkpoint(&self) -> Option<Checkpoint> {
        let req = self.request.as_ref()?;
        Some(Checkpoint {
            export_job_id: self.job_id.clone(),
            report_id: req.report_id.clone(),
            next_offset: self.delivered,
            baseline: self.baseline.clone(),
        })
    }

    /// Hands the checkpoint to the writer when it moved since the last write (the stream
    /// does not wait for it).
    fn save_if_moved(&mut self) {
        if self.checkpoint_dirty {
            if let Some(checkpoint) = self.checkpoint() {
                self.checkpoints.save(checkpoint);
            }
            self.checkpoint_dirty = false;
        }
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
}

impl Actor for ExportStreamActor {
    type Context = ws::WebsocketContext<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.spawn(
            self.opts
                .drain
                .closing()
                .into_actor(self)
                .map(|(), act, ctx| {
                    act.close(ctx, CloseCode::Away, SHUTTING_DOWN);
                }),
        );
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
            if let Some(e) = act.checkpoints.take_failure() {
                act.close(
                    ctx,
                    CloseCode::Error,
                    &format!("checkpoint not written: {e}"),
                );
                return;
            }
            act.save_if_moved();
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
        if self.counted {
            METRICS.export_streams.dec();
        }
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

/// The socket took more bytes. With `ack_window` 0 the checkpoint moves past a chunk once
/// [`IN_TRANSIT_BYTES`] more have been taken after it; fetch more.
impl Handler<Flushed> for ExportStreamActor {
    type Result = ();

    fn handle(&mut self, msg: Flushed, ctx: &mut Self::Context) {
        self.written = msg.0;
        while self
            .unflushed
            .front()
            .is_some_and(|(at, _)| at + IN_TRANSIT_BYTES <= self.written)
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
