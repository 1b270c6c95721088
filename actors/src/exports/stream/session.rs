//! The session: the client's text messages (the stream request, then acks) and starting or
//! resuming the export job.

use actix::prelude::*;
use actix_web_actors::ws::{self, CloseCode};
use serde_json::{json, Value};

use super::super::checkpoint::Checkpoint;
use super::super::request::{validate_request, StreamRequest};
use super::{ExportStreamActor, Phase};
use crate::cxone::api;
use crate::metrics::METRICS;

impl ExportStreamActor {
    pub(super) fn start(&mut self, req: StreamRequest, ctx: &mut ws::WebsocketContext<Self>) {
        self.phase = Phase::Starting;
        self.request = Some(req.clone());
        let client = self.client();
        let store = self.opts.store.clone();
        let fut = async move {
            let (job_id, found) = match &req.export_job_id {
                Some(id) => {
                    let found = store
                        .load(id)
                        .await
                        .map_err(|e| (CloseCode::Error, format!("checkpoint unreadable: {e}")))?;
                    if let Some(c) = found.as_ref().filter(|c| c.report_id != req.report_id) {
                        let reason = format!("export_job_id belongs to report {}", c.report_id);
                        return Err((CloseCode::Unsupported, reason));
                    }
                    (id.clone(), found)
                }
                None => {
                    let resp = api::start_export(&client, &req.report_id)
                        .await
                        .map_err(|e| (CloseCode::Error, format!("export could not start: {e}")))?;
                    let body: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
                    match body["id"].as_str() {
                        Some(id) if !id.is_empty() => (id.to_string(), None),
                        _ => {
                            let reason = "export could not start: the answer has no job id";
                            return Err((CloseCode::Error, reason.to_string()));
                        }
                    }
                }
            };
            // The job's checkpoint is written before the job is announced, so a client that
            // has seen `started` can always resume it (here or on another replica).
            let first = Checkpoint {
                export_job_id: job_id.clone(),
                report_id: req.report_id.clone(),
                next_offset: found.as_ref().map_or(0, |c| c.next_offset),
                baseline: found.as_ref().and_then(|c| c.baseline.clone()),
            };
            store
                .save(first)
                .await
                .map_err(|e| (CloseCode::Error, format!("checkpoint not written: {e}")))?;
            Ok((job_id, found))
        };
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| match result {
            Err((code, reason)) => act.close(ctx, code, &reason),
            Ok((job_id, checkpoint)) => {
                act.job_id = job_id;
                if let Some(c) = checkpoint {
                    act.delivered = c.next_offset;
                    act.set_baseline(c.baseline);
                }
                let page = act.request.as_ref().map_or(0, |r| r.page_index_at(act.delivered));
                (act.fetch_offset, act.process_offset) = (act.delivered, act.delivered);
                (act.fetch_page, act.processed_pages) = (page, page);
                act.phase = Phase::Streaming;
                METRICS.export_streams.inc();
                act.counted = true;
                let started = json!({"type": "started", "export_job_id": act.job_id, "offset": act.delivered});
                act.send_text(ctx, started);
                act.pump(ctx);
            }
        }));
    }

    pub(super) fn text(&mut self, text: &str, ctx: &mut ws::WebsocketContext<Self>) {
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
