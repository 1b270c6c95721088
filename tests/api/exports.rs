//! Export streams over a real WebSocket: completeness and order with gzip and none, chunk
//! sizes, resume by job id (also across a service restart), flow control, drift, close codes,
//! concurrency, 429s on the records endpoint, per-stream figures in the audit log and
//! `/metrics`, and the reference consumer CLI.

use std::time::Duration;

use awc::ws::{Frame, Message};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use switchboard::startup::{Application, BuildOptions};
use switchboard_actors::exports::frame::{decode_message, verify_payload};
use switchboard_actors::store::Store;

use crate::helpers::{
    checkpoint_offset, eventually, postgres_database, spawn_app, spawn_sandbox, start_service,
    temp_dir, test_settings, unique_topics, TestApp,
};

#[derive(Debug)]
pub(crate) enum Event {
    Text(Value),
    Chunk(Value, Vec<Value>),
    Closed(Option<u16>, String),
    Ended,
}

pub(crate) type Conn = actix_codec::Framed<awc::BoxedSocket, awc::ws::Codec>;

pub(crate) async fn connect(address: &str) -> Conn {
    let (_, conn) = awc::Client::new()
        .ws(format!("{}/stream", address.replace("http://", "ws://")))
        .max_frame_size(32 << 20)
        .connect()
        .await
        .expect("websocket connects");
    conn
}

pub(crate) async fn next(conn: &mut Conn) -> Event {
    loop {
        match conn.next().await {
            Some(Ok(Frame::Text(b))) => {
                return Event::Text(serde_json::from_slice(&b).expect("text is JSON"))
            }
            Some(Ok(Frame::Binary(b))) => {
                let (header, payload) = decode_message(&b).expect("chunk header");
                let records = verify_payload(&header, payload).expect("checksum verified");
                return Event::Chunk(header, records);
            }
            Some(Ok(Frame::Close(r))) => {
                return Event::Closed(
                    r.as_ref().map(|r| u16::from(r.code)),
                    r.and_then(|r| r.description).unwrap_or_default(),
                )
            }
            Some(Ok(Frame::Ping(p))) => {
                let _ = conn.send(Message::Pong(p)).await;
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Event::Ended,
        }
    }
}

pub(crate) async fn send(conn: &mut Conn, v: Value) {
    conn.send(Message::Text(v.to_string().into()))
        .await
        .expect("send");
}

async fn register_report(app: &TestApp, id: &str, records: u64, drift_at: Option<u64>) {
    register_report_at(&app.http, &app.sandbox_url, id, records, drift_at).await;
}

/// Registers report `id` of `records` records in the sandbox at `sandbox_url`.
pub(crate) async fn register_report_at(
    http: &awc::Client,
    sandbox_url: &str,
    id: &str,
    records: u64,
    drift_at: Option<u64>,
) {
    let resp = http
        .post(format!("{sandbox_url}/sandbox/reports"))
        .send_json(&json!({"id": id, "records": records, "drift_at": drift_at, "seed": 7}))
        .await
        .expect("report");
    assert_eq!(resp.status().as_u16(), 201);
}

/// Reads the `started` message (the first) and returns its export job id.
pub(crate) async fn started_job(conn: &mut Conn) -> String {
    let Event::Text(started) = next(conn).await else {
        panic!("started first")
    };
    started["export_job_id"]
        .as_str()
        .expect("job id")
        .to_string()
}

/// Reads chunks until at least `n` records arrived (acknowledging each chunk when `ack`);
/// returns those records.
pub(crate) async fn read_records(conn: &mut Conn, n: usize, ack: bool) -> Vec<Value> {
    let mut received = Vec::new();
    while received.len() < n {
        if let Event::Chunk(h, r) = next(conn).await {
            let end = h["offset"].as_u64().unwrap_or(0) + r.len() as u64;
            received.extend(r);
            if ack {
                send(conn, json!({"type": "ack", "offset": end})).await;
            }
        }
    }
    received
}

pub(crate) fn request(report: &str, matrix: Value, compression: &str, ack_window: u64) -> Value {
    json!({"report_id": report, "chunk_size_matrix": matrix, "compression_format": compression,
           "max_payload_size": 10 * 1024 * 1024, "schema_version": "1", "ack_window": ack_window})
}

/// Reads to the end; returns (started, chunks' headers, records, complete, close).
pub(crate) async fn read_all(
    conn: &mut Conn,
    ack: bool,
) -> (Value, Vec<Value>, Vec<Value>, Value, Option<u16>) {
    let (mut started, mut headers, mut records, mut complete) =
        (Value::Null, vec![], vec![], Value::Null);
    loop {
        match next(conn).await {
            Event::Text(v) if v["type"] == "started" => started = v,
            Event::Text(v) if v["type"] == "complete" => complete = v,
            Event::Text(v) => panic!("unexpected {v}"),
            Event::Chunk(h, r) => {
                if ack {
                    let end = h["offset"].as_u64().unwrap_or(0) + r.len() as u64;
                    send(conn, json!({"type": "ack", "offset": end})).await;
                }
                headers.push(h);
                records.extend(r);
            }
            Event::Closed(code, _) => return (started, headers, records, complete, code),
            Event::Ended => return (started, headers, records, complete, None),
        }
    }
}

pub(crate) fn assert_in_order(report: &str, records: &[Value], from: u64) {
    for (i, r) in records.iter().enumerate() {
        let seq = from + i as u64;
        assert_eq!(r["id"], format!("{report}-{seq}"), "record {i}");
    }
}

#[actix_rt::test]
async fn every_record_of_a_25000_record_report_arrives_once_in_order_with_gzip_and_none() {
    let app = spawn_app().await;
    register_report(&app, "big", 25_000, None).await;
    for compression in ["gzip", "none"] {
        let mut conn = connect(&app.address).await;
        send(
            &mut conn,
            request("big", json!([100, 1000, 5000]), compression, 0),
        )
        .await;
        let (started, headers, records, complete, code) = read_all(&mut conn, false).await;
        assert_eq!(started["offset"], 0);
        assert_eq!(code, Some(1000), "normal close");
        assert_eq!(records.len(), 25_000);
        assert_in_order("big", &records, 0);
        let counts: Vec<u64> = headers
            .iter()
            .map(|h| h["count"].as_u64().unwrap_or(0))
            .collect();
        assert_eq!(
            &counts[..4],
            &[100, 1000, 5000, 5000],
            "chunk sizes follow the matrix"
        );
        assert!(headers.iter().all(|h| h["compression"] == compression));
        let mut expected = 0;
        for h in &headers {
            assert_eq!(h["offset"], expected, "contiguous offsets");
            expected += h["count"].as_u64().unwrap_or(0);
        }
        assert_eq!(complete["total_records"], 25_000);
        assert_eq!(complete["total_chunks"], headers.len());
    }
}

#[actix_rt::test]
async fn a_dropped_stream_resumed_by_job_id_continues_with_no_gap_and_with_acks_no_duplicate() {
    let app = spawn_app().await;
    register_report(&app, "resume", 5_000, None).await;
    let mut conn = connect(&app.address).await;
    send(&mut conn, request("resume", json!([500]), "gzip", 4)).await;
    let job = started_job(&mut conn).await;
    let mut received = read_records(&mut conn, 2_000, true).await;
    let checkpoint_offset = eventually(
        Duration::from_secs(5),
        "the checkpoint to reach 2000",
        || async {
            let offset = checkpoint_offset(&app.store, &job).await?;
            (offset == 2_000).then_some(2_000)
        },
    )
    .await;
    drop(conn);
    let mut conn = connect(&app.address).await;
    let mut req = request("resume", json!([500]), "gzip", 4);
    req["export_job_id"] = json!(job);
    send(&mut conn, req).await;
    let (started, headers, rest, complete, code) = read_all(&mut conn, true).await;
    assert_eq!(started["offset"], checkpoint_offset);
    assert_eq!(headers[0]["offset"], 2_000, "no duplicate");
    assert_eq!(code, Some(1000));
    received.extend(rest);
    assert_eq!(received.len(), 5_000);
    assert_in_order("resume", &received, 0);
    assert_eq!(complete["total_records"], 5_000);
    let served = app.sandbox_state().await["exports"][&job]
        .as_u64()
        .unwrap_or(0);
    assert!(
        (5_000..=5_000 + 4 * 500).contains(&served),
        "one export job; only the unacknowledged window is fetched again: {served}"
    );
}

#[actix_rt::test]
async fn without_acks_a_resumed_stream_has_no_gap() {
    let app = spawn_app().await;
    register_report(&app, "noack", 3_000, None).await;
    let mut conn = connect(&app.address).await;
    send(&mut conn, request("noack", json!([300]), "none", 0)).await;
    let job = started_job(&mut conn).await;
    let mut received = read_records(&mut conn, 900, false).await;
    drop(conn);
    let mut conn = connect(&app.address).await;
    let mut req = request("noack", json!([300]), "none", 0);
    req["export_job_id"] = json!(job);
    send(&mut conn, req).await;
    let (started, _, rest, _, code) = read_all(&mut conn, false).await;
    let resumed = started["offset"].as_u64().expect("offset");
    assert!(
        resumed <= received.len() as u64,
        "resumes at or before what arrived: {resumed}"
    );
    assert_eq!(code, Some(1000));
    received.truncate(resumed as usize);
    received.extend(rest);
    assert_eq!(received.len(), 3_000);
    assert_in_order("noack", &received, 0);
}

#[actix_rt::test]
async fn a_stream_resumes_from_its_checkpoint_after_the_service_restarts() {
    crate::helpers::init_logging();
    let sandbox = spawn_sandbox().await;
    let dir = crate::helpers::temp_dir();
    let settings = test_settings(&dir, &unique_topics(), &sandbox.base_url());
    let first = Application::build(settings.clone(), BuildOptions::default())
        .await
        .expect("first service");
    let address = format!("http://127.0.0.1:{}", first.port());
    let handle = first.server_handle();
    let store = first.store().clone();
    actix_rt::spawn(first.run_until_stopped());
    register_report_at(
        &awc::Client::new(),
        &sandbox.base_url(),
        "restart",
        4000,
        None,
    )
    .await;
    let mut conn = connect(&address).await;
    send(&mut conn, request("restart", json!([400]), "gzip", 2)).await;
    let job = started_job(&mut conn).await;
    let mut received = read_records(&mut conn, 1_200, true).await;
    eventually(
        Duration::from_secs(5),
        "the last ack's checkpoint",
        || async { (checkpoint_offset(&store, &job).await? == 1_200).then_some(()) },
    )
    .await;
    drop(conn);
    handle.stop(false).await;

    let second = Application::build(settings, BuildOptions::default())
        .await
        .expect("restarted service");
    let address = format!("http://127.0.0.1:{}", second.port());
    actix_rt::spawn(second.run_until_stopped());
    let mut conn = connect(&address).await;
    let mut req = request("restart", json!([400]), "gzip", 2);
    req["export_job_id"] = json!(job);
    send(&mut conn, req).await;
    let (started, _, rest, _, code) = read_all(&mut conn, true).await;
    assert_eq!(started["offset"], 1_200);
    assert_eq!(code, Some(1000));
    received.extend(rest);
    assert_eq!(received.len(), 4_000);
    assert_in_order("restart", &received, 0);
}

#[actix_rt::test]
async fn an_export_resumes_on_another_replica_after_the_first_was_sigkilled_mid_stream() {
    crate::helpers::init_logging();
    let sandbox = spawn_sandbox().await;
    let state_url = postgres_database().await;
    let dir = temp_dir();
    let a = start_service(&dir, &sandbox.base_url(), "a", &state_url).await;
    let b = start_service(&dir, &sandbox.base_url(), "b", &state_url).await;
    let store = Store::open(&state_url, 1).await.expect("the state store");
    register_report_at(
        &awc::Client::new(),
        &sandbox.base_url(),
        "shared",
        5_000,
        None,
    )
    .await;

    let mut conn = connect(&a.address).await;
    send(&mut conn, request("shared", json!([500]), "gzip", 4)).await;
    let job = started_job(&mut conn).await;
    // Mid-stream: 2 000 records read and acknowledged, more in flight within the window.
    let mut received = read_records(&mut conn, 2_000, true).await;
    eventually(
        Duration::from_secs(5),
        "A's checkpoint at 2000 in the shared store",
        || async { (checkpoint_offset(&store, &job).await? == 2_000).then_some(()) },
    )
    .await;
    drop(a); // SIGKILL, the stream open
    assert!(
        matches!(next(&mut conn).await, Event::Chunk(..) | Event::Ended),
        "the stream ends without a close frame"
    );
    drop(conn);

    let mut conn = connect(&b.address).await;
    let mut req = request("shared", json!([500]), "gzip", 4);
    req["export_job_id"] = json!(job);
    send(&mut conn, req).await;
    let (started, headers, rest, complete, code) = read_all(&mut conn, true).await;
    assert_eq!(
        started["offset"], 2_000,
        "B resumes where A's client acknowledged"
    );
    assert_eq!(headers[0]["offset"], 2_000, "no duplicate");
    assert_eq!(code, Some(1000));
    received.extend(rest);
    assert_eq!(received.len(), 5_000);
    assert_in_order("shared", &received, 0);
    assert_eq!(complete["total_records"], 5_000);
}

#[actix_rt::test]
async fn a_slow_client_with_an_ack_window_holds_the_server_at_the_window() {
    let app = spawn_app().await;
    register_report(&app, "slow", 10_000, None).await;
    let mut conn = connect(&app.address).await;
    send(&mut conn, request("slow", json!([100]), "none", 2)).await;
    let job = started_job(&mut conn).await;
    let mut ends = Vec::new();
    for _ in 0..2 {
        let Event::Chunk(h, r) = next(&mut conn).await else {
            panic!("chunk")
        };
        ends.push(h["offset"].as_u64().unwrap_or(0) + r.len() as u64);
    }
    // Nothing more may come while both chunks are unacknowledged: observe a fixed window.
    let more = tokio::time::timeout(Duration::from_millis(500), next(&mut conn)).await;
    assert!(more.is_err(), "no third chunk before an ack: {more:?}");
    assert_eq!(
        app.sandbox_state().await["exports"][&job],
        200,
        "no page fetched beyond the window"
    );
    send(&mut conn, json!({"type": "ack", "offset": ends[0]})).await;
    let Event::Chunk(h, _) = next(&mut conn).await else {
        panic!("a chunk after the ack")
    };
    assert_eq!(h["offset"], 200);
}

#[actix_rt::test]
async fn a_client_that_stops_reading_stops_the_server_fetching() {
    let app = spawn_app().await;
    register_report(&app, "stalled", 400_000, None).await;
    let mut conn = connect(&app.address).await;
    send(&mut conn, request("stalled", json!([2000]), "none", 0)).await;
    let job = started_job(&mut conn).await;
    // The client reads nothing more. Wait until the served count stops growing.
    let last = std::cell::Cell::new(u64::MAX);
    let served = eventually(
        Duration::from_secs(30),
        "the server to stop fetching",
        || {
            let (app, job, last) = (&app, job.clone(), &last);
            async move {
                actix_rt::time::sleep(Duration::from_millis(300)).await;
                let now = app.sandbox_state().await["exports"][&job]
                    .as_u64()
                    .unwrap_or(0);
                let steady = now == last.replace(now) && now > 0;
                steady.then_some(now)
            }
        },
    )
    .await;
    assert!(
        served < 400_000 / 2,
        "the server held back at {served} of 400000 records"
    );
    drop(conn);
}

#[actix_rt::test]
async fn drift_fails_the_stream_or_warns_and_goes_on() {
    let app = spawn_app().await;
    register_report(&app, "drift", 3_000, Some(1_234)).await;
    let mut conn = connect(&app.address).await;
    send(&mut conn, request("drift", json!([500]), "gzip", 0)).await;
    let mut records = 0;
    let drift = loop {
        match next(&mut conn).await {
            Event::Chunk(_, r) => records += r.len(),
            Event::Text(v) if v["type"] == "schema_drift" => break v,
            Event::Text(_) => {}
            other => panic!("expected drift, got {other:?}"),
        }
    };
    assert_eq!(records, 1_234, "every record before the drift was sent");
    assert_eq!(drift["offset"], 1_234);
    assert_eq!(drift["missing"], json!(["region"]));
    assert_eq!(drift["added"], json!(["channel"]));
    let Event::Closed(code, reason) = next(&mut conn).await else {
        panic!("close")
    };
    assert_eq!(code, Some(1011));
    assert!(reason.contains("drift"), "{reason}");

    let mut conn = connect(&app.address).await;
    let mut req = request("drift", json!([500]), "gzip", 0);
    req["on_schema_drift"] = json!("warn");
    send(&mut conn, req).await;
    let mut schemas = Vec::new();
    let mut total = 0;
    let mut warned = false;
    loop {
        match next(&mut conn).await {
            Event::Chunk(h, r) => {
                total += r.len();
                schemas.push(h["schema"].as_str().unwrap_or("").to_string());
            }
            Event::Text(v) if v["type"] == "schema_drift" => warned = true,
            Event::Text(_) => {}
            Event::Closed(code, _) => {
                assert_eq!(code, Some(1000));
                break;
            }
            Event::Ended => panic!("ended without close"),
        }
    }
    assert!(warned);
    assert_eq!(total, 3_000);
    assert_ne!(
        schemas.first(),
        schemas.last(),
        "the new shape became the baseline"
    );
}

#[actix_rt::test]
async fn each_invalid_request_gets_its_close_code() {
    let app = spawn_app().await;
    register_report(&app, "codes", 10, None).await;
    let cases: Vec<(Message, u16, &str)> = vec![
        (Message::Text("{not json".into()), 1002, "not JSON"),
        (Message::Text(json!({"report_id": "codes"}).to_string().into()), 1003, "chunk_size_matrix"),
        (Message::Text(json!({"report_id": "codes", "chunk_size_matrix": [0], "compression_format": "zip", "max_payload_size": 0, "schema_version": "1", "ack_window": "x", "on_schema_drift": "maybe", "more": 1, "and_more": 2}).to_string().into()), 1003, "chunk_size_matrix"),
        (Message::Binary(vec![1, 2, 3].into()), 1003, "binary"),
        (Message::Text({
            let mut r = request("codes", json!([10]), "none", 0);
            r["max_payload_size"] = json!(20);
            r.to_string().into()
        }), 1009, "max_payload_size"),
    ];
    for (message, code, word) in cases {
        let mut conn = connect(&app.address).await;
        conn.send(message).await.expect("send");
        let closed = loop {
            match next(&mut conn).await {
                Event::Closed(c, reason) => break (c, reason),
                Event::Ended => panic!("no close frame"),
                _ => {}
            }
        };
        assert_eq!(closed.0, Some(code), "{closed:?}");
        assert!(closed.1.contains(word), "{closed:?}");
        assert!(closed.1.len() <= 123, "close reasons fit RFC 6455");
    }
}

#[actix_rt::test]
async fn twenty_concurrent_streams_complete_correctly() {
    let app = spawn_app().await;
    register_report(&app, "many", 2_000, None).await;
    let streams = (0..20).map(|i| {
        let address = app.address.clone();
        async move {
            let mut conn = connect(&address).await;
            let compression = if i % 2 == 0 { "gzip" } else { "none" };
            send(
                &mut conn,
                request("many", json!([150, 400]), compression, i % 3),
            )
            .await;
            read_all(&mut conn, i % 3 > 0).await
        }
    });
    for (started, _, records, complete, code) in futures::future::join_all(streams).await {
        assert_eq!(started["offset"], 0);
        assert_eq!(code, Some(1000));
        assert_eq!(records.len(), 2_000);
        assert_in_order("many", &records, 0);
        assert_eq!(complete["total_records"], 2_000);
    }
}

#[actix_rt::test]
async fn the_reference_consumer_writes_every_record_once_as_ndjson() {
    let app = spawn_app().await;
    register_report(&app, "cli", 3_000, None).await;
    let out = app.dir.join("export.ndjson");
    let path = out.display().to_string();
    let args = [
        "export",
        "--report",
        "cli",
        "--gzip",
        "--chunk-size",
        "700",
        "--server",
        &app.address,
        "--out",
        &path,
    ];
    let (code, _, _) = crate::helpers::cli(&app, &args, &[]).await;
    assert_eq!(code, 0);
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .expect("output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("NDJSON"))
        .collect();
    assert_eq!(lines.len(), 3_000);
    assert_in_order("cli", &lines, 0);
}

#[actix_rt::test]
async fn the_data_lake_sink_gets_each_chunk_as_gzip_ndjson() {
    let sink = crate::helpers::temp_dir();
    let sink_dir = sink.display().to_string();
    let app = crate::helpers::spawn_app_with(move |s| s.export.sink_dir = sink_dir).await;
    register_report(&app, "lake", 1_000, None).await;
    let mut conn = connect(&app.address).await;
    send(&mut conn, request("lake", json!([300]), "gzip", 0)).await;
    let (started, headers, records, _, code) = read_all(&mut conn, false).await;
    assert_eq!(code, Some(1000));
    let job = started["export_job_id"].as_str().expect("job");
    let mut from_files = Vec::new();
    for h in &headers {
        let path = sink.join(job).join(format!("{}.ndjson.gz", h["offset"]));
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("sink file")),
            &mut text,
        )
        .expect("gzip");
        from_files.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Value>(l).expect("NDJSON")),
        );
    }
    assert_eq!(from_files, records);
    assert_eq!(from_files.len(), 1_000);
}

#[actix_rt::test]
async fn an_idle_client_is_dropped_after_the_client_timeout() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.export.heartbeat_interval_secs = 1;
        s.export.client_timeout_secs = 1;
    })
    .await;
    // Timed from before the handshake: the server's idle clock starts when its actor starts,
    // during the handshake, so it must not be dropped earlier than the timeout after this.
    let started = std::time::Instant::now();
    let mut conn = connect(&app.address).await;
    // Send nothing and answer no ping: the server gives up and closes 1001.
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), conn.next())
            .await
            .expect("closed within 10 s")
        {
            Some(Ok(Frame::Close(r))) => break r.map(|r| u16::from(r.code)),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    // Dropped: a close frame, when one arrives first, says 1001 (going away).
    assert!(matches!(code, Some(1001) | None), "{code:?}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[actix_rt::test]
async fn records_pages_answered_429_are_retried_after_retry_after_and_the_stream_completes() {
    let app = spawn_app().await;
    register_report(&app, "throttled", 3_000, None).await;
    app.set_faults(json!({"rate_limit_per_minute": 600})).await;
    app.drain_sandbox_bucket().await;
    let started = std::time::Instant::now();
    let mut conn = connect(&app.address).await;
    send(&mut conn, request("throttled", json!([1000]), "none", 0)).await;
    let (_, _, records, complete, code) = read_all(&mut conn, false).await;
    // The sandbox's Retry-After is at least one second, and the stream waited it.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(code, Some(1000), "normal close");
    assert_eq!(records.len(), 3_000);
    assert_in_order("throttled", &records, 0);
    assert_eq!(complete["total_records"], 3_000);
    let state = app.sandbox_state().await;
    let throttled: u64 = state["requests"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(call, _)| call.contains("/exports") && call.ends_with(" 429"))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    assert!(throttled >= 1, "an export call was throttled: {state}");
}

#[actix_rt::test]
async fn a_streams_figures_reach_the_audit_log_and_metrics() {
    let app = spawn_app().await;
    register_report(&app, "figures", 2_500, None).await;
    let metric = |text: &str, name: &str| {
        crate::helpers::metric_value(text, name, &std::collections::BTreeMap::new())
    };
    let before = app.metrics_text().await.expect("metrics");
    let mut conn = connect(&app.address).await;
    send(&mut conn, request("figures", json!([1000]), "gzip", 0)).await;
    let (started, headers, records, complete, code) = read_all(&mut conn, false).await;
    assert_eq!(code, Some(1000), "normal close");
    assert_eq!(records.len(), 2_500);
    let job = started["export_job_id"].as_str().expect("job").to_string();

    let audit_path = app.dir.join("audit.jsonl");
    let details = eventually(
        Duration::from_secs(5),
        "the export_stream audit record",
        || {
            let (audit, path, job) = (app.actors.audit.clone(), audit_path.clone(), job.clone());
            async move {
                let _ = audit.send(switchboard_actors::Flush).await;
                let text = std::fs::read_to_string(&path).ok()?;
                text.lines()
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .find(|e| e["operation"] == "export_stream" && e["target_id"] == job.as_str())
                    .map(|e| e["details"].clone())
            }
        },
    )
    .await;
    assert_eq!(details["records"], 2_500, "{details}");
    assert_eq!(details["chunks"], headers.len(), "{details}");
    assert_eq!(details["bytes"], complete["total_bytes"], "{details}");
    assert_eq!(details["complete"], true, "{details}");
    assert!(
        details["records_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "{details}"
    );
    assert!(
        details["average_chunk_latency_ms"].as_f64().unwrap_or(0.0) > 0.0,
        "{details}"
    );

    // Other tests stream in this process too: the counters grew by at least this stream's.
    let after = app.metrics_text().await.expect("metrics");
    let grew = |name: &str| metric(&after, name) - metric(&before, name);
    assert!(grew("switchboard_export_records_total") >= 2_500.0);
    assert!(grew("switchboard_export_chunks_total") >= headers.len() as f64);
    assert!(
        grew("switchboard_export_bytes_total")
            >= complete["total_bytes"].as_f64().unwrap_or(f64::MAX)
    );
}
