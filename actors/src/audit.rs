//! AuditActor: the append-only audit log, one JSON object per line at `audit.path`.
//! Records carry no secret: callers put ids, statuses and error texts in them, never tokens
//! or credentials. Buffered, flushed every [`FLUSH_INTERVAL`], on [`Flush`] and on stopping.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use actix::prelude::*;
use serde::Serialize;

use crate::lifecycle::Lifecycle;

/// How often buffered records are written out.
pub const FLUSH_INTERVAL: Duration = Duration::from_secs(1);

/// Largest `target_id` kept in a record, in bytes: a longer one (ids come from clients, a
/// `dataActionId` may be 64 KB) is cut on a char boundary and ends with `…`.
pub const MAX_TARGET_ID_BYTES: usize = 256;

/// Outcome of an audited operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOutcome {
    /// The operation did what it was asked.
    Succeeded,
    /// The operation failed; `error` says why.
    Failed,
}

/// One audit record (a line of the audit log).
#[derive(Debug, Clone, Serialize, Message)]
#[rtype(result = "()")]
pub struct AuditEvent {
    /// RFC 3339 UTC time with milliseconds.
    pub timestamp: String,
    /// Actor (or component) that performed the operation.
    pub actor: &'static str,
    /// Operation, e.g. `acknowledge`, `token`.
    pub operation: &'static str,
    /// Correlation id sent with the call.
    pub correlation_id: String,
    /// Id of the object operated on (Data Action id, execution id, …); at most
    /// [`MAX_TARGET_ID_BYTES`] bytes plus `…` (see [`AuditEvent::now`]).
    pub target_id: String,
    /// Final HTTP status, when a response was received.
    pub http_status: Option<u16>,
    /// Wall-clock milliseconds, retries included.
    pub latency_ms: u64,
    /// Succeeded or failed.
    pub outcome: AuditOutcome,
    /// Error text on failure (never a secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Operation-specific fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

impl AuditEvent {
    /// A record stamped now, without details; `target_id` cut to [`MAX_TARGET_ID_BYTES`].
    pub fn now(
        actor: &'static str,
        operation: &'static str,
        correlation_id: impl Into<String>,
        target_id: impl Into<String>,
    ) -> Self {
        let mut target_id = target_id.into();
        if target_id.len() > MAX_TARGET_ID_BYTES {
            target_id = crate::text::truncate(&target_id, MAX_TARGET_ID_BYTES);
        }
        AuditEvent {
            timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            actor,
            operation,
            correlation_id: correlation_id.into(),
            target_id,
            http_status: None,
            latency_ms: 0,
            outcome: AuditOutcome::Succeeded,
            error: None,
            details: None,
        }
    }
}

/// Writes buffered records to disk now; answers once they are written.
#[derive(Message, Debug, Clone, Copy)]
#[rtype(result = "std::io::Result<()>")]
pub struct Flush;

/// The audit log writer. One per process.
pub struct AuditActor {
    out: BufWriter<File>,
    /// Its lifecycle log lines and restart count.
    lifecycle: Lifecycle,
}

impl AuditActor {
    /// Opens (creating if needed) the audit log for appending.
    ///
    /// Errors: the file or its directory cannot be created or opened.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(AuditActor {
            out: BufWriter::new(file),
            lifecycle: Lifecycle::new("AuditActor"),
        })
    }

    fn flush_now(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

impl Actor for AuditActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(4096);
        ctx.run_interval(FLUSH_INTERVAL, |act, _| {
            if let Err(e) = act.flush_now() {
                log::error!("actor=AuditActor event=flush_failed error={e}");
            }
        });
        self.lifecycle.started();
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        self.lifecycle.stopping();
        if let Err(e) = self.flush_now() {
            log::error!("actor=AuditActor event=flush_failed error={e}");
        }
        Running::Stop
    }
}

impl Supervised for AuditActor {
    fn restarting(&mut self, _: &mut Self::Context) {
        self.lifecycle.restarted();
    }
}

/// Appends one record.
impl Handler<AuditEvent> for AuditActor {
    type Result = ();

    fn handle(&mut self, event: AuditEvent, _: &mut Self::Context) {
        let written = serde_json::to_writer(&mut self.out, &event)
            .map_err(std::io::Error::from)
            .and_then(|_| self.out.write_all(b"\n"));
        if let Err(e) = written {
            log::error!("actor=AuditActor event=write_failed error={e}");
        }
    }
}

/// Flushes the buffer to the file.
impl Handler<Flush> for AuditActor {
    type Result = std::io::Result<()>;

    fn handle(&mut self, _: Flush, _: &mut Self::Context) -> Self::Result {
        self.flush_now()
    }
}

crate::handle_stop_actor!(AuditActor);

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_rt::test]
    async fn records_are_written_as_json_lines_and_flushed_on_request() {
        let dir = std::env::temp_dir().join(format!("sb-audit-{}", uuid::Uuid::new_v4()));
        let path = dir.join("audit.jsonl");
        let addr = AuditActor::open(&path).expect("open").start();
        let mut event = AuditEvent::now("Test", "acknowledge", "corr-1", "da-1");
        event.http_status = Some(409);
        event.outcome = AuditOutcome::Failed;
        event.error = Some("already acknowledged".into());
        addr.send(event).await.expect("send");
        addr.send(Flush).await.expect("send").expect("flush");
        let text = std::fs::read_to_string(&path).expect("read");
        let line: serde_json::Value = serde_json::from_str(text.trim()).expect("one json line");
        assert_eq!(line["operation"], "acknowledge");
        assert_eq!(line["http_status"], 409);
        assert_eq!(line["outcome"], "failed");
        assert_eq!(line["target_id"], "da-1");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_long_target_id_is_cut() {
        let id = "é".repeat(40_000);
        let event = AuditEvent::now("Test", "acknowledge", "corr-1", id.as_str());
        assert!(event.target_id.ends_with('…'));
        assert!(event.target_id.len() <= MAX_TARGET_ID_BYTES + '…'.len_utf8());
        assert!(id.starts_with(event.target_id.trim_end_matches('…')));
    }
}
