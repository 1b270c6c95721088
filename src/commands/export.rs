//! `switchboard export --report ID [--server URL] [--gzip] [--out FILE]`: the reference
//! consumer of `GET /stream`. Verifies every chunk's checksum, writes the records as NDJSON
//! (stdout by default), acknowledges each chunk, and after a dropped connection reconnects
//! with the export job id (up to [`RECONNECTS`] times), skipping records it already wrote and
//! refusing gaps, so the output holds every record once, in order. Exits 1 on a close other
//! than normal completion (drift in fail mode, invalid request, upstream failure).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use awc::ws::{Frame, Message};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard_actors::exports::frame::{decode_message, verify_payload};

/// Reconnections after dropped connections.
pub const RECONNECTS: u32 = 5;

/// What to export and how: the flags of `switchboard export` (the doc comments are its help).
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// The report.
    #[arg(long = "report", value_name = "REPORT")]
    pub report_id: String,
    /// The service's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Ask for gzip payloads.
    #[arg(long)]
    pub gzip: bool,
    /// Where NDJSON goes (default stdout).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Records per chunk (repeatable: used in order, the last repeating).
    #[arg(long = "chunk-size", default_value = "1000")]
    pub chunk_sizes: Vec<usize>,
    /// Unacknowledged chunks at most (0: no acks).
    #[arg(long, default_value_t = 8)]
    pub ack_window: usize,
    /// Largest payload per chunk, bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_payload_size: usize,
    /// On schema drift: fail or warn.
    #[arg(long, default_value = "fail")]
    pub on_schema_drift: String,
    /// Resume this export job.
    #[arg(long)]
    pub export_job_id: Option<String>,
}

/// How one connection ended.
enum Ended {
    Complete(Value),
    Dropped(String),
}

struct Progress {
    job_id: Option<String>,
    next: u64,
    out: Box<dyn Write>,
}

fn ws_url(server: &str) -> String {
    let base = server.trim_end_matches('/');
    let base = base
        .strip_prefix("http://")
        .map(|r| format!("ws://{r}"))
        .unwrap_or_else(|| {
            base.strip_prefix("https://")
                .map(|r| format!("wss://{r}"))
                .unwrap_or_else(|| base.to_string())
        });
    format!("{base}/stream")
}

async fn connect_once(args: &ExportArgs, p: &mut Progress) -> anyhow::Result<Ended> {
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let (_, mut conn) = match client
        .ws(ws_url(&args.server))
        .max_frame_size(args.max_payload_size + 64 * 1024)
        .connect()
        .await
    {
        Ok(c) => c,
        Err(e) => return Ok(Ended::Dropped(format!("connect: {e}"))),
    };
    let request = json!({
        "report_id": args.report_id,
        "export_job_id": p.job_id,
        "chunk_size_matrix": args.chunk_sizes,
        "compression_format": if args.gzip { "gzip" } else { "none" },
        "max_payload_size": args.max_payload_size,
        "schema_version": "1",
        "ack_window": args.ack_window,
        "on_schema_drift": args.on_schema_drift,
    });
    if let Err(e) = conn.send(Message::Text(request.to_string().into())).await {
        return Ok(Ended::Dropped(format!("send: {e}")));
    }
    while let Some(frame) = conn.next().await {
        let frame = match frame {
            Ok(f) => f,
            Err(e) => return Ok(Ended::Dropped(format!("receive: {e}"))),
        };
        match frame {
            Frame::Text(bytes) => {
                let v: Value =
                    serde_json::from_slice(&bytes).context("a text message is not JSON")?;
                match v["type"].as_str() {
                    Some("started") => {
                        p.job_id = v["export_job_id"].as_str().map(String::from);
                        let offset = v["offset"].as_u64().unwrap_or(0);
                        if offset > p.next {
                            bail!("the stream resumed at offset {offset}, after {} records written: a gap", p.next);
                        }
                    }
                    Some("schema_drift") => eprintln!("schema drift: {v}"),
                    Some("complete") => return Ok(Ended::Complete(v)),
                    _ => eprintln!("unexpected message: {v}"),
                }
            }
            Frame::Binary(bytes) => {
                let (header, payload) = decode_message(&bytes).map_err(anyhow::Error::msg)?;
                let records = verify_payload(&header, payload).map_err(anyhow::Error::msg)?;
                let offset = header["offset"].as_u64().context("chunk without offset")?;
                let end = offset + records.len() as u64;
                if offset > p.next {
                    bail!("chunk at offset {offset} after {} records: a gap", p.next);
                }
                let skip = (p.next - offset) as usize;
                for record in records.iter().skip(skip) {
                    serde_json::to_writer(&mut p.out, record).context("writing NDJSON")?;
                    p.out.write_all(b"\n").context("writing NDJSON")?;
                }
                p.next = p.next.max(end);
                if args.ack_window > 0 {
                    p.out.flush().context("flushing NDJSON")?;
                    let ack = json!({"type": "ack", "offset": end}).to_string();
                    if let Err(e) = conn.send(Message::Text(ack.into())).await {
                        return Ok(Ended::Dropped(format!("ack: {e}")));
                    }
                }
            }
            Frame::Ping(p) => {
                let _ = conn.send(Message::Pong(p)).await;
            }
            Frame::Close(reason) => {
                let code = reason.as_ref().map(|r| u16::from(r.code));
                let text = reason.and_then(|r| r.description).unwrap_or_default();
                if code == Some(1000) {
                    continue;
                }
                bail!(
                    "the server closed the stream ({}): {text}",
                    code.map_or("no code".into(), |c| c.to_string())
                );
            }
            _ => {}
        }
    }
    Ok(Ended::Dropped("the connection ended".into()))
}

/// Runs the consumer; returns the records written.
///
/// Errors: a gap, a checksum mismatch, an abnormal close, or too many dropped connections.
pub async fn run(args: ExportArgs) -> anyhow::Result<u64> {
    let out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    };
    let mut p = Progress {
        job_id: args.export_job_id.clone(),
        next: 0,
        out,
    };
    let mut drops = 0;
    loop {
        match connect_once(&args, &mut p).await? {
            Ended::Complete(summary) => {
                p.out.flush().context("flushing NDJSON")?;
                eprintln!("export complete: {summary}");
                return Ok(p.next);
            }
            Ended::Dropped(why) => {
                drops += 1;
                if drops > RECONNECTS || p.job_id.is_none() && drops > 1 {
                    bail!("giving up after {drops} dropped connections: {why}");
                }
                eprintln!(
                    "connection dropped ({why}); resuming job {:?} at {}",
                    p.job_id, p.next
                );
                actix_rt::time::sleep(Duration::from_millis(200 * u64::from(drops))).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_servers_map_to_websocket_urls() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080/"),
            "ws://127.0.0.1:8080/stream"
        );
        assert_eq!(ws_url("https://sb.example"), "wss://sb.example/stream");
    }
}
