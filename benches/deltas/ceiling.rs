//! The ceiling: the prepared batches sent directly to the sandbox, one at a time.

use std::time::{Duration, Instant};

use actix_web::web::Bytes;
use anyhow::ensure;

use crate::common::http;
use crate::common::sandbox::bearer;
use crate::{DELTA_PATH, MAX_ANSWER_BYTES};

/// PATCHes every batch in order, one in flight, with the actor's headers; returns the time.
///
/// Errors: a token failure, or an answer other than 200 echoing the batch's checksum.
pub(crate) async fn send_ceiling(
    base: &str,
    batches: &[(Bytes, String)],
) -> anyhow::Result<Duration> {
    let client = http();
    let bearer = bearer(&client, base).await?;
    let url = format!("{base}{DELTA_PATH}");
    let started = Instant::now();
    for (index, (body, checksum)) in batches.iter().enumerate() {
        let mut resp = client
            .patch(&url)
            .insert_header(("Authorization", bearer.as_str()))
            .insert_header(("Accept", "application/json"))
            .insert_header(("X-Correlation-ID", format!("bench-{index}")))
            .insert_header(("X-Payload-Checksum", checksum.as_str()))
            .insert_header(("Idempotency-Key", checksum.as_str()))
            .insert_header(("If-Match", "*"))
            .insert_header(("X-CXone-Version-Stamp", "true"))
            .insert_header(("Content-Type", "application/json"))
            .send_body(body.clone())
            .await
            .map_err(|e| anyhow::anyhow!("batch {index}: {e}"))?;
        let answer = resp.body().limit(MAX_ANSWER_BYTES).await?;
        ensure!(
            resp.status().as_u16() == 200,
            "batch {index}: HTTP {}",
            resp.status()
        );
        // The sandbox answers compact JSON; a byte search keeps the bench's own client thin
        // (parsing the ~20 KB answer would charge the ceiling with client work).
        let echoed = format!("\"checksum\":\"{checksum}\"");
        ensure!(
            answer.windows(echoed.len()).any(|w| w == echoed.as_bytes()),
            "batch {index}: checksum not echoed"
        );
    }
    Ok(started.elapsed())
}
