//! Streams over `GET /stream`: requests, verified chunk by chunk, and idle slow clients.

use anyhow::{bail, ensure, Context as _};
use awc::ws::{Frame, Message};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard_actors::exports::frame::{decode_message, verify_checksum};
use switchboard_actors::exports::scan::count_records;

use crate::common::http;
use crate::pager::Moved;
use crate::{Conn, IDLE_ACK_WINDOW, MAX_FRAME, MAX_PAYLOAD};

/// A stream request as the bench sends it.
pub(crate) fn stream_request(
    report: &str,
    chunk: u64,
    compression: &str,
    ack_window: u64,
) -> Value {
    json!({"report_id": report, "chunk_size_matrix": [chunk], "compression_format": compression,
           "max_payload_size": MAX_PAYLOAD, "schema_version": "1", "ack_window": ack_window})
}

/// Opens `GET /stream` and sends the request.
pub(crate) async fn open_stream(service: &str, request: &Value) -> anyhow::Result<Conn> {
    let (_, mut conn) = http()
        .ws(format!("{}/stream", service.replace("http://", "ws://")))
        .max_frame_size(MAX_FRAME)
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("websocket connect: {e}"))?;
    conn.send(Message::Text(request.to_string().into()))
        .await
        .map_err(|e| anyhow::anyhow!("send request: {e}"))?;
    Ok(conn)
}

/// Uncompressed payload bytes: the payload itself, or gzip's ISIZE trailer (RFC 1952).
/// The `seq` of the first record of a raw page (the sandbox writes `"seq"` early in each record).
pub(crate) fn first_seq(raw: &[u8]) -> Option<u64> {
    let at = raw.windows(6).position(|w| w == b"\"seq\":")? + 6;
    let digits: String = raw[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .map(|b| *b as char)
        .collect();
    digits.parse().ok()
}

pub(crate) fn json_len(header: &Value, payload: &[u8]) -> u64 {
    if header["compression"] == "gzip" && payload.len() >= 4 {
        let t = &payload[payload.len() - 4..];
        u64::from(u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
    } else {
        payload.len() as u64
    }
}

/// What one stream asks for and expects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec<'a> {
    pub(crate) report: &'a str,
    pub(crate) expected: u64,
    pub(crate) chunk: u64,
    pub(crate) compression: &'a str,
    pub(crate) ack_window: u64,
    /// Decompress, checksum and parse every chunk (off only in the diagnostic variant, which
    /// takes the count from the header).
    pub(crate) verify: bool,
}

/// One stream to its end: verifies every chunk, checks offsets, acks when the window is on.
/// Returns what came and the export job id.
///
/// Errors: a bad chunk, a gap, a close other than 1000 after `complete`, or a record count
/// other than `expected`.
pub(crate) async fn run_stream(service: &str, spec: Spec<'_>) -> anyhow::Result<(Moved, String)> {
    let Spec {
        report,
        expected,
        chunk,
        compression,
        ack_window,
        verify,
    } = spec;
    let mut conn = open_stream(
        service,
        &stream_request(report, chunk, compression, ack_window),
    )
    .await?;
    let (mut moved, mut job, mut complete) = (Moved::default(), String::new(), Value::Null);
    loop {
        let frame = match conn.next().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => bail!("receive: {e}"),
            None => bail!("the connection ended before the close"),
        };
        match frame {
            Frame::Text(bytes) => {
                moved.wire_bytes += bytes.len() as u64;
                let v: Value = serde_json::from_slice(&bytes)?;
                match v["type"].as_str() {
                    Some("started") => {
                        job = v["export_job_id"].as_str().unwrap_or_default().to_string()
                    }
                    Some("complete") => complete = v,
                    _ => bail!("unexpected message {v}"),
                }
            }
            Frame::Binary(bytes) => {
                moved.wire_bytes += bytes.len() as u64;
                let (header, payload) = decode_message(&bytes).map_err(anyhow::Error::msg)?;
                moved.json_bytes += json_len(&header, payload);
                let offset = header["offset"].as_u64().context("chunk without offset")?;
                ensure!(
                    offset == moved.records,
                    "chunk at {offset} after {} records",
                    moved.records
                );
                let count = if verify {
                    // What a consumer must do: decompress, check the SHA-256, count the records
                    // (no values built), and check the first one's position.
                    let raw = verify_checksum(&header, payload).map_err(anyhow::Error::msg)?;
                    let count = count_records(&raw)? as u64;
                    ensure!(
                        count == header["count"].as_u64().unwrap_or(0),
                        "chunk at {offset} holds {count} records, not its header's count"
                    );
                    ensure!(
                        first_seq(&raw) == Some(offset),
                        "chunk at {offset} does not start with record {offset}"
                    );
                    count
                } else {
                    header["count"].as_u64().context("chunk without count")?
                };
                moved.records += count;
                moved.pages += 1;
                if ack_window > 0 {
                    let ack = json!({"type": "ack", "offset": moved.records}).to_string();
                    conn.send(Message::Text(ack.into()))
                        .await
                        .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
                }
            }
            Frame::Ping(p) => {
                let _ = conn.send(Message::Pong(p)).await;
            }
            Frame::Close(reason) => {
                let code = reason.as_ref().map(|r| u16::from(r.code));
                ensure!(code == Some(1000), "closed with {reason:?}");
                break;
            }
            _ => {}
        }
    }
    ensure!(
        complete["total_records"] == expected,
        "complete: {complete}"
    );
    ensure!(
        moved.records == expected,
        "streamed {} of {expected} records",
        moved.records
    );
    Ok((moved, job))
}

/// An idle slow client: connects, asks with `ack_window: 2`, reads until its first chunk,
/// then neither reads nor acknowledges.
pub(crate) async fn idle_client(service: &str, report: &str, chunk: u64) -> anyhow::Result<Conn> {
    let mut conn = open_stream(
        service,
        &stream_request(report, chunk, "none", IDLE_ACK_WINDOW),
    )
    .await?;
    loop {
        match conn.next().await {
            Some(Ok(Frame::Binary(_))) => return Ok(conn),
            Some(Ok(Frame::Close(r))) => bail!("idle client closed: {r:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("idle client: {e}"),
            None => bail!("idle client: the connection ended"),
        }
    }
}
