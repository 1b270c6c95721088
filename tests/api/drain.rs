//! A graceful stop (SIGTERM) of a `switchboard serve` process under load from 16 senders
//! that, like a load balancer, stop sending shortly after `/readyz` turns 503: readiness fails
//! within a second while requests are still served (with `Connection: close`), no request
//! is left without an answer, every event answered 200 is in Kafka, every routed event's
//! acknowledgement is in the audit log (or counted as left in the log), an open export stream
//! is closed 1001 and resumes from its checkpoint after a restart, and the exit code is 0.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{json, Value};
use switchboard_sandbox::{Sandbox, SandboxOptions};

use crate::exports::{
    assert_in_order, connect, next, read_all, read_records, register_report_at, request, send,
    started_job, Event,
};
use crate::helpers::{
    brokers, event, eventually, read_partition, send_event, serve_command, spawn_service,
    start_service, temp_dir, Answered,
};

/// Senders, as in the run.
const SENDERS: usize = 16;
/// `server.shutdown_timeout_secs` of the service under test.
const WINDOW_SECS: u64 = 3;
/// How long the senders go on after readiness failed (a balancer's probe interval and
/// threshold).
const BALANCER_LAG: Duration = Duration::from_millis(500);

#[derive(Debug, Default)]
struct Tally {
    /// Routed: data action id → (partition, offset).
    routed: BTreeMap<String, (i32, i64)>,
    /// 503 answers, each with `Retry-After`.
    unavailable: usize,
    /// Answers received after readiness failed, and how many of them said `Connection: close`.
    after_drain: usize,
    closed_after_drain: usize,
    /// Answers before the signal that said `Connection: close`.
    closed_before: usize,
    /// Anything else: a dropped connection, an unexpected status.
    failures: Vec<String>,
}

async fn sender(
    n: usize,
    address: String,
    tally: Rc<RefCell<Tally>>,
    draining: Rc<RefCell<Option<Instant>>>,
    signalled: Rc<RefCell<bool>>,
) {
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    for i in 0.. {
        let drained_at = *draining.borrow();
        if drained_at.is_some_and(|t| t.elapsed() > BALANCER_LAG) {
            return;
        }
        let id = format!("drain-{n}-{i}");
        let answer = match send_event(&http, &address, &id, json!({"sender": n, "i": i})).await {
            Ok(answer) => answer,
            Err(failure) => return tally.borrow_mut().failures.push(failure),
        };
        let Answered {
            status,
            body,
            connection_close: close,
            retry_after,
        } = answer;
        let mut t = tally.borrow_mut();
        if drained_at.is_some() {
            t.after_drain += 1;
            t.closed_after_drain += usize::from(close);
        } else if !*signalled.borrow() {
            t.closed_before += usize::from(close);
        }
        match status {
            200 if body["status"] == "routed" => {
                let at = (
                    body["partition"].as_i64().unwrap_or(-1) as i32,
                    body["offset"].as_i64().unwrap_or(-1),
                );
                t.routed.insert(id, at);
            }
            503 if retry_after => t.unavailable += 1,
            _ => t.failures.push(format!("{id}: {status} {body}")),
        }
    }
}

#[actix_rt::test]
async fn sigterm_under_load_drains_answers_every_request_and_exits_0() {
    crate::helpers::init_logging();
    let sandbox = Sandbox::start(SandboxOptions {
        bind: "127.0.0.1:0".into(),
        rate_limit_per_minute: 1_000_000,
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts");
    let dir = temp_dir();
    let state_url = crate::helpers::sqlite_state(&dir);
    let topic = format!("sbt-{}-drain", uuid::Uuid::new_v4().simple());
    let rules = dir.join("drain-routes.toml");
    std::fs::write(
        &rules,
        format!("[[rules]]\npattern = '.*'\ntopic = \"{topic}\"\npartition = 0\n"),
    )
    .expect("rules file");
    let (mut command, port) = serve_command(&dir, &sandbox.base_url(), "drain", &state_url);
    command
        .env("SWITCHBOARD__ROUTING__RULES_FILE", &rules)
        .env(
            "SWITCHBOARD__SERVER__SHUTDOWN_TIMEOUT_SECS",
            WINDOW_SECS.to_string(),
        )
        .env("SWITCHBOARD__SERVER__DRAIN_TIMEOUT_SECS", "15")
        .env("SWITCHBOARD__CXONE__REQUESTS_PER_MINUTE", "1000000")
        .env("SWITCHBOARD__CXONE__BURST", "10000");
    let mut service = spawn_service(command, port).await;
    let address = service.address.clone();
    let http = awc::Client::new();

    // An export stream, mid-way: 200 records read and acknowledged, then left waiting.
    register_report_at(&http, &sandbox.base_url(), "drain", 5_000, None).await;
    let mut conn = connect(&address).await;
    send(&mut conn, request("drain", json!([100]), "gzip", 4)).await;
    let job = started_job(&mut conn).await;
    let mut received = read_records(&mut conn, 200, true).await;
    assert_eq!(received.len(), 200);

    let tally = Rc::new(RefCell::new(Tally::default()));
    let draining = Rc::new(RefCell::new(None::<Instant>));
    let signalled = Rc::new(RefCell::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|n| {
            actix_rt::spawn(sender(
                n,
                address.clone(),
                tally.clone(),
                draining.clone(),
                signalled.clone(),
            ))
        })
        .collect();
    eventually(
        Duration::from_secs(30),
        "load before the signal",
        || async { (tally.borrow().routed.len() >= 500).then_some(()) },
    )
    .await;

    *signalled.borrow_mut() = true;
    let sent_at = Instant::now();
    service.signal("TERM");
    let ready_code = eventually(Duration::from_secs(5), "/readyz to fail", || async {
        let mut resp = http.get(format!("{address}/readyz")).send().await.ok()?;
        if resp.status().as_u16() != 503 {
            return None;
        }
        let body: Value = resp.json().await.ok()?;
        Some(body["error"].clone())
    })
    .await;
    let failed_after = sent_at.elapsed();
    *draining.borrow_mut() = Some(Instant::now());
    assert_eq!(ready_code, "draining");
    assert!(
        failed_after < Duration::from_secs(1),
        "/readyz failed {failed_after:?} after SIGTERM"
    );
    for s in senders {
        s.await.expect("sender");
    }

    // The stream: the chunks sent within the window, then 1001.
    let code = loop {
        match next(&mut conn).await {
            Event::Closed(code, reason) => break (code, reason),
            Event::Ended => break (None, String::new()),
            _ => {}
        }
    };
    assert_eq!(code.0, Some(1001), "closed going away: {code:?}");
    assert!(code.1.contains("export_job_id"), "{code:?}");
    drop(conn);

    let status = service
        .exited(Duration::from_secs(WINDOW_SECS + 30))
        .await
        .expect("the service exits");
    assert_eq!(status.code(), Some(0), "exit code");

    let t = std::mem::take(&mut *tally.borrow_mut());
    println!(
        "routed {}, 503 {}, answered while draining {}, /readyz failed after {failed_after:?}",
        t.routed.len(),
        t.unavailable,
        t.after_drain
    );
    assert!(t.failures.is_empty(), "{:?}", t.failures);
    assert!(t.after_drain > 0, "served after readiness failed");
    assert_eq!(
        t.closed_after_drain, t.after_drain,
        "every answer while draining says Connection: close"
    );
    assert_eq!(t.closed_before, 0, "keep-alive before the signal");
    let log = std::fs::read_to_string(dir.join("drain.log")).expect("service log");
    for line in ["event=draining", "event=closing_listener", "event=stopped"] {
        assert!(log.contains(line), "{line} in the log:\n{log}");
    }

    // Every event answered 200 is in Kafka, at the offset it was answered with.
    let records = read_partition(&brokers(), &topic, 0, t.routed.len()).await;
    let in_kafka: BTreeMap<String, i64> = records
        .iter()
        .filter_map(|r| {
            let key = r.record.key.as_ref()?;
            Some((String::from_utf8_lossy(key).into_owned(), r.offset))
        })
        .collect();
    for (id, (partition, offset)) in &t.routed {
        assert_eq!(*partition, 0);
        assert_eq!(in_kafka.get(id), Some(offset), "{id} in Kafka");
    }

    // Every routed event's acknowledgement is audited, or counted as left in the log.
    let audited: BTreeSet<String> = std::fs::read_to_string(dir.join("drain-audit.jsonl"))
        .expect("audit log")
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["operation"] == "acknowledge" && r["http_status"] == 200)
        .filter_map(|r| r["target_id"].as_str().map(String::from))
        .collect();
    let unaudited = t.routed.keys().filter(|id| !audited.contains(*id)).count();
    let left: usize = log
        .lines()
        .filter_map(|l| l.split("event=acknowledgements_left count=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(
        unaudited,
        left,
        "{} routed, {} acknowledgements audited",
        t.routed.len(),
        audited.len()
    );

    // The export resumes from its checkpoint after a restart on the same state.
    let again = start_service(&dir, &sandbox.base_url(), "drain-again", &state_url).await;
    let mut conn = connect(&again.address).await;
    let mut req = request("drain", json!([100]), "gzip", 4);
    req["export_job_id"] = json!(job);
    send(&mut conn, req).await;
    let (started, _, rest, _, code) = read_all(&mut conn, true).await;
    assert_eq!(
        started["offset"], 200,
        "resumes where the client acknowledged"
    );
    assert_eq!(code, Some(1000));
    received.extend(rest);
    assert_eq!(received.len(), 5_000);
    assert_in_order("drain", &received, 0);
}

#[actix_rt::test]
async fn acknowledgements_that_cannot_be_sent_in_time_are_logged_with_their_count() {
    crate::helpers::init_logging();
    let sandbox = crate::helpers::spawn_sandbox().await;
    let dir = temp_dir();
    let state_url = crate::helpers::sqlite_state(&dir);
    let (mut command, port) = serve_command(&dir, &sandbox.base_url(), "slow-acks", &state_url);
    // One acknowledgement a second, and a second to send them once the listener closed.
    command
        .env("SWITCHBOARD__SERVER__SHUTDOWN_TIMEOUT_SECS", "0")
        .env("SWITCHBOARD__SERVER__DRAIN_TIMEOUT_SECS", "1")
        .env("SWITCHBOARD__CXONE__REQUESTS_PER_MINUTE", "60")
        .env("SWITCHBOARD__CXONE__BURST", "1");
    let mut service = spawn_service(command, port).await;
    let http = awc::Client::new();
    let mut routed = BTreeSet::new();
    for i in 0..20 {
        let id = format!("slow-ack-{i}");
        let mut resp = http
            .post(format!("{}/webhook/cxone/data-actions", service.address))
            .send_json(&event(&id, json!({"i": i})))
            .await
            .expect("answer");
        let body: Value = resp.json().await.expect("JSON");
        assert_eq!(resp.status().as_u16(), 200, "{body}");
        routed.insert(id);
    }
    service.terminate().await;
    let log = std::fs::read_to_string(dir.join("slow-acks.log")).expect("service log");
    let left: usize = log
        .lines()
        .filter_map(|l| l.split("event=acknowledgements_left count=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<usize>().ok())
        .sum();
    let audited = std::fs::read_to_string(dir.join("slow-acks-audit.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["operation"] == "acknowledge" && r["http_status"] == 200)
        .filter(|r| {
            r["target_id"]
                .as_str()
                .is_some_and(|id| routed.contains(id))
        })
        .count();
    assert!(left > 0, "at one a second, 20 cannot all be sent: {log}");
    assert_eq!(audited + left, 20, "audited {audited}, left {left}");
}

#[actix_rt::test]
async fn a_graceful_stop_writes_the_shared_windows_last_keys_before_exiting() {
    // Routed keys count as routed in the shared dedupe window once the replica's watermark,
    // written after a short gathering (the router's SHARED_WINDOW_UPDATE_LINGER), reaches
    // them; a stop right after the last answer must still write it, or a redelivery to
    // another replica would be produced again.
    crate::helpers::init_logging();
    let sandbox = crate::helpers::spawn_sandbox().await;
    let dir = temp_dir();
    let state_url = crate::helpers::sqlite_state(&dir);
    let (mut command, port) = serve_command(&dir, &sandbox.base_url(), "window", &state_url);
    command
        .env("SWITCHBOARD__ROUTING__DEDUPE", "shared")
        .env("SWITCHBOARD__SERVER__SHUTDOWN_TIMEOUT_SECS", "0")
        // Acknowledgements go at once: the stop itself takes milliseconds, less than the
        // gathering, so a write the stop did not wait for would be lost.
        .env("SWITCHBOARD__CXONE__REQUESTS_PER_MINUTE", "1000000")
        .env("SWITCHBOARD__CXONE__BURST", "10000");
    let mut service = spawn_service(command, port).await;
    let http = awc::Client::new();
    const EVENTS: usize = 200;
    let answers: Vec<Result<Answered, String>> = futures::stream::iter(0..EVENTS)
        .map(|i| {
            let (http, address) = (&http, service.address.as_str());
            async move { send_event(http, address, &format!("window-{i}"), json!({"i": i})).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for answer in &answers {
        let answer = answer.as_ref().expect("an answer");
        assert_eq!(answer.body["status"], "routed", "{}", answer.body);
    }
    // No idle keep-alive connection holds the listener's close up.
    drop(http);
    service.terminate().await;

    let store = switchboard_actors::store::Store::open(&state_url, 1)
        .await
        .expect("the state store opens");
    // A key counts as routed once its owner's watermark reached the claim that reserved it.
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT CAST(CASE WHEN d.claim_seq <= o.routed_through THEN 1 ELSE 0 END AS BIGINT), \
         COUNT(*) FROM dedupe_keys d JOIN dedupe_owners o ON o.owner = d.owner GROUP BY 1",
    )
    .fetch_all(store.pool())
    .await
    .expect("the window reads");
    assert_eq!(
        rows,
        vec![(1, EVENTS as i64)],
        "every routed event's key counted as routed before the exit"
    );
}
