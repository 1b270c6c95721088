//! Several replicas sharing one PostgreSQL state store (the test command's server, a new
//! database per test).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use switchboard_actors::settings::DedupeMode;
use switchboard_actors::store::Store;
use switchboard_actors::StopActor;

use crate::helpers::{
    brokers, event, eventually, executions_by_sub_flow, postgres_database, read_partition,
    sandbox_state, serve_command, spawn_app_with, spawn_replicas, spawn_sandbox, spawn_service,
    status_and_json, temp_dir, unique_topics, PrivateBroker,
};

/// POSTs `events` to `address` (32 in flight), each with its own `webhook-id`; the answers'
/// `status` fields counted.
async fn post_all(address: &str, events: &[(String, Value)]) -> BTreeMap<String, usize> {
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    let answers: Vec<(u16, Value)> = futures::stream::iter(events.iter())
        .map(|(id, body)| {
            let req = http
                .post(format!("{address}/webhook/cxone/data-actions"))
                .insert_header(("Content-Type", "application/json"))
                .insert_header(("webhook-id", id.as_str()));
            async move { status_and_json(req.send_json(body).await.expect("request")).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut counts = BTreeMap::new();
    for (status, body) in answers {
        let key = match body["status"].as_str() {
            Some(s) if status == 200 => s.to_string(),
            _ => format!("{status} {}", body["error"].as_str().unwrap_or("")),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// `n` events routed to the `high` topic, each with its own `webhook-id` (`msg_{tag}_{i}`) and
/// `dataActionId` (`da-{tag}-{i}`).
fn high_priority_events(tag: &str, n: usize) -> Vec<(String, Value)> {
    (0..n)
        .map(|i| {
            (
                format!("msg_{tag}_{i}"),
                event(
                    &format!("da-{tag}-{i}"),
                    json!({"priority": "high", "n": i}),
                ),
            )
        })
        .collect()
}

/// Waits until the shared dedupe window in `store` holds `n` keys (a claim written).
async fn wait_for_keys_in_window(store: &Store, n: i64) {
    eventually(Duration::from_secs(10), "the keys claimed", || async {
        let held: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dedupe_keys")
            .fetch_one(store.pool())
            .await
            .expect("the window reads");
        (held == n).then_some(())
    })
    .await;
}

/// POSTs `events` to `address` as CXone redelivers: again, 50 ms later, while answered 503
/// `in_flight_elsewhere` (retry later), for at most 5 s; the final answers counted.
async fn redelivered_until_answered(
    address: &str,
    events: &[(String, Value)],
) -> BTreeMap<String, usize> {
    redelivered_within(address, events, Duration::from_secs(5)).await
}

/// [`redelivered_until_answered`] for at most `within`.
async fn redelivered_within(
    address: &str,
    events: &[(String, Value)],
    within: Duration,
) -> BTreeMap<String, usize> {
    let deadline = std::time::Instant::now() + within;
    let (mut left, mut answered) = (events.to_vec(), BTreeMap::new());
    while !left.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "still in flight elsewhere: {left:?} (answered {answered:?})"
        );
        let mut again = Vec::new();
        for e in left {
            let counts = post_all(address, std::slice::from_ref(&e)).await;
            match counts.into_keys().next() {
                Some(answer) if answer == "503 in_flight_elsewhere" => again.push(e),
                Some(answer) => *answered.entry(answer).or_insert(0) += 1,
                None => panic!("no answer for {e:?}"),
            }
        }
        left = again;
        if !left.is_empty() {
            actix_rt::time::sleep(Duration::from_millis(50)).await;
        }
    }
    answered
}

#[actix_rt::test]
async fn with_shared_dedupe_a_redelivery_to_another_replica_is_a_duplicate_and_produces_nothing() {
    let sandbox = spawn_sandbox().await;
    let state_url = postgres_database().await;
    let topics = unique_topics();
    let replicas = spawn_replicas(2, &sandbox.base_url(), &topics, |s| {
        s.state.url = state_url.clone();
        s.routing.dedupe = DedupeMode::Shared;
    })
    .await;
    let (a_address, b_address) = (&replicas[0].address, &replicas[1].address);

    let events = high_priority_events("shared", 1_000);
    let first = post_all(a_address, &events).await;
    assert_eq!(
        first,
        BTreeMap::from([("routed".to_string(), 1_000)]),
        "{first:?}"
    );
    let again = post_all(b_address, &events).await;
    assert_eq!(
        again,
        BTreeMap::from([("duplicate".to_string(), 1_000)]),
        "{again:?}"
    );

    let records = read_partition(&brokers(), &topics.high, 0, 1_000).await;
    assert_eq!(
        records.len(),
        1_000,
        "one record per event, none for the redeliveries"
    );
    // And A itself still knows them (its own window, and the shared one).
    let once_more = post_all(a_address, &events[..10]).await;
    assert_eq!(once_more, BTreeMap::from([("duplicate".to_string(), 10)]));
}

#[actix_rt::test]
async fn with_shared_dedupe_a_failed_produce_releases_its_keys_to_the_other_replica() {
    // A's broker stops once A runs: its produces fail and it releases their keys, so the
    // redeliveries to B are routed, neither duplicates nor in flight elsewhere. Once B's
    // watermark passed them, A answers them as duplicates although its broker is still down.
    let sandbox = spawn_sandbox().await;
    let state_url = postgres_database().await;
    let topics = unique_topics();
    let mut broker = PrivateBroker::start().await;
    let a_broker = std::cell::Cell::new(Some(broker.address.clone()));
    let replicas = spawn_replicas(2, &sandbox.base_url(), &topics, |s| {
        s.state.url = state_url.clone();
        s.routing.dedupe = DedupeMode::Shared;
        s.kafka.produce_timeout_ms = 1_000;
        if let Some(address) = a_broker.take() {
            s.kafka.brokers = vec![address];
        }
    })
    .await;
    let (a_address, b_address) = (&replicas[0].address, &replicas[1].address);
    broker.stop();
    let events = high_priority_events("failed", 5);
    let failed = post_all(a_address, &events).await;
    assert!(
        failed.values().sum::<usize>() == 5 && failed.keys().all(|k| k.starts_with("503")),
        "{failed:?}"
    );
    // A's releases are written after a 20 ms gathering.
    let answered = redelivered_until_answered(b_address, &events).await;
    assert_eq!(
        answered,
        BTreeMap::from([("routed".to_string(), 5)]),
        "{answered:?}"
    );
    let records = read_partition(&brokers(), &topics.high, 0, 5).await;
    assert_eq!(records.len(), 5);
    eventually(
        Duration::from_secs(5),
        "A reads B's routed keys",
        || async {
            let answers = post_all(a_address, &events).await;
            (answers == BTreeMap::from([("duplicate".to_string(), 5)])).then_some(())
        },
    )
    .await;
}

#[actix_rt::test]
async fn with_shared_dedupe_a_restarted_router_releases_the_keys_it_held() {
    // A's broker stops and its produce timeout is a minute: A's events wait in flight, their
    // keys held in the shared window. A's router is stopped (its supervisor restarts it): the
    // keys it held are released, so their redeliveries to B are routed, not answered in flight
    // elsewhere for as long as A lives.
    let state_url = postgres_database().await;
    let mut broker = PrivateBroker::start().await;
    let (a_broker, a_state) = (broker.address.clone(), state_url.clone());
    let a = spawn_app_with(move |s| {
        s.state.url = a_state;
        s.routing.dedupe = DedupeMode::Shared;
        s.kafka.brokers = vec![a_broker];
        s.kafka.produce_timeout_ms = 60_000;
    })
    .await;
    let replicas = spawn_replicas(1, &a.sandbox_url, &a.topics, |s| {
        s.state.url = state_url.clone();
        s.routing.dedupe = DedupeMode::Shared;
    })
    .await;
    let b_address = &replicas[0].address;
    broker.stop();
    let events = high_priority_events("held", 3);
    let waiting = {
        let (address, events) = (a.address.clone(), events.clone());
        actix_rt::spawn(async move { post_all(&address, &events).await })
    };
    // A's claim written (B must not claim them first):
    wait_for_keys_in_window(&a.store, 3).await;
    assert_eq!(
        post_all(b_address, &events).await,
        BTreeMap::from([("503 in_flight_elsewhere".to_string(), 3)]),
        "A holds them"
    );
    a.actors.router.do_send(StopActor);
    let stopped = waiting.await.expect("A's answers");
    assert!(
        stopped.values().sum::<usize>() == 3 && stopped.keys().all(|k| k.starts_with("503")),
        "{stopped:?}"
    );
    let answered = redelivered_until_answered(b_address, &events).await;
    assert_eq!(
        answered,
        BTreeMap::from([("routed".to_string(), 3)]),
        "{answered:?}"
    );
    let records = read_partition(&brokers(), &a.topics.high, 0, 3).await;
    assert_eq!(records.len(), 3);
}

#[actix_rt::test]
async fn with_shared_dedupe_an_idle_replica_keeps_renewing_its_lease() {
    // Its lease is twice the produce timeout (600 ms here), renewed every third of it: a
    // replica that stops renewing is taken for gone, and its unrouted keys free for others.
    let a = spawn_app_with(|s| {
        s.routing.dedupe = DedupeMode::Shared;
        s.kafka.produce_timeout_ms = 300;
    })
    .await;
    let (status, body) = a
        .post_event(&event("da-lease", json!({"priority": "high"})), None)
        .await;
    assert_eq!(status, 200, "{body}");
    let lease_until = || async {
        sqlx::query_scalar::<_, i64>("SELECT lease_until FROM dedupe_owners")
            .fetch_optional(a.store.pool())
            .await
            .expect("the window reads")
    };
    let first = eventually(Duration::from_secs(5), "the replica's row", lease_until).await;
    eventually(
        Duration::from_secs(5),
        "a lease renewed while no event comes",
        || async { lease_until().await.filter(|l| *l >= first + 1_000) },
    )
    .await;
}

#[actix_rt::test]
async fn with_shared_dedupe_the_keys_of_a_sigkilled_replica_are_taken_once_its_lease_passes() {
    // A (a `switchboard serve` process) is SIGKILLed while its events are in flight (its
    // broker stopped, its produce timeout 3 s, so its lease is 6 s): B answers their
    // redeliveries in flight elsewhere while A's lease runs, then routes them.
    let sandbox = spawn_sandbox().await;
    let state_url = postgres_database().await;
    let dir = temp_dir();
    let mut broker = PrivateBroker::start().await;
    let (mut command, port) = serve_command(&dir, &sandbox.base_url(), "a", &state_url);
    command
        .env("SWITCHBOARD__KAFKA__BROKERS", &broker.address)
        .env("SWITCHBOARD__ROUTING__DEDUPE", "shared")
        .env("SWITCHBOARD__KAFKA__PRODUCE_TIMEOUT_MS", "3000");
    let a = spawn_service(command, port).await;
    let topics = unique_topics();
    let replicas = spawn_replicas(1, &sandbox.base_url(), &topics, |s| {
        s.state.url = state_url.clone();
        s.routing.dedupe = DedupeMode::Shared;
    })
    .await;
    let b_address = &replicas[0].address;
    broker.stop();
    let events = high_priority_events("killed", 3);
    // Posted to A, whose answers never come: it is killed first.
    for (id, body) in events.clone() {
        let address = a.address.clone();
        actix_rt::spawn(async move {
            let _killed_before_answering = awc::Client::new()
                .post(format!("{address}/webhook/cxone/data-actions"))
                .insert_header(("webhook-id", id))
                .send_json(&body)
                .await;
        });
    }
    // A's claim written (B must not claim them first), then A killed mid-produce.
    let store = Store::open(&state_url, 1).await.expect("the state store");
    wait_for_keys_in_window(&store, 3).await;
    drop(a);
    assert_eq!(
        post_all(b_address, &events).await,
        BTreeMap::from([("503 in_flight_elsewhere".to_string(), 3)]),
        "the killed replica's lease still runs"
    );
    let answered = redelivered_within(b_address, &events, Duration::from_secs(15)).await;
    assert_eq!(
        answered,
        BTreeMap::from([("routed".to_string(), 3)]),
        "{answered:?}"
    );
    let records = read_partition(&brokers(), &topics.high, 0, 3).await;
    assert_eq!(records.len(), 3);
}

#[actix_rt::test]
async fn with_memory_dedupe_the_other_replica_does_not_know_the_event() {
    // The control: without the shared window the same redeliveries are produced again, so
    // the test above can fail.
    let sandbox = spawn_sandbox().await;
    let topics = unique_topics();
    let replicas = spawn_replicas(2, &sandbox.base_url(), &topics, |_| {}).await;
    let (a_address, b_address) = (&replicas[0].address, &replicas[1].address);
    let events = high_priority_events("mem", 20);
    assert_eq!(post_all(a_address, &events).await["routed"], 20);
    assert_eq!(post_all(b_address, &events).await["routed"], 20);
}

/// A plan of `n` independent sub-flows of `latency_ms` each.
fn plan(n: usize, latency_ms: u64) -> Value {
    let sub_flows: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "depends_on": [],
                "input_data": {"sandbox": {"latency_ms": latency_ms}}
            })
        })
        .collect();
    json!({"sub_flows": sub_flows, "concurrency_max": 2, "merge_condition": "ALL"})
}

async fn get_json(address: &str, path: &str) -> (u16, Value) {
    let resp = awc::Client::new()
        .get(format!("{address}{path}"))
        .send()
        .await
        .expect("request");
    status_and_json(resp).await
}

#[actix_rt::test]
async fn a_run_on_one_replica_is_answered_by_another_while_it_runs_and_once_settled() {
    let sandbox = spawn_sandbox().await;
    let state_url = postgres_database().await;
    let replicas = spawn_replicas(2, &sandbox.base_url(), &unique_topics(), |s| {
        s.state.url = state_url.clone();
    })
    .await;
    let (a, b) = (&replicas[0].address, &replicas[1].address);
    let resp = awc::Client::new()
        .post(format!("{a}/orchestrations"))
        .send_json(&plan(6, 150))
        .await
        .expect("submit");
    let (status, body) = status_and_json(resp).await;
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().expect("run_id").to_string();
    let path = format!("/orchestrations/{run_id}");

    // While it runs: B answers with A's latest snapshot.
    let running = eventually(
        Duration::from_secs(10),
        "B to see the run running",
        || async {
            let (status, report) = get_json(b, &path).await;
            (status == 200 && report["status"] == "running").then_some(report)
        },
    )
    .await;
    assert_eq!(running["run_id"], run_id.as_str());
    assert_eq!(running["sub_flows"].as_array().map(Vec::len), Some(6));

    // Once settled: B's answer is A's report.
    let settled_b = eventually(
        Duration::from_secs(20),
        "B to see the run settled",
        || async {
            let (status, report) = get_json(b, &path).await;
            (status == 200 && report["settled"] == true).then_some(report)
        },
    )
    .await;
    let (status, settled_a) = get_json(a, &path).await;
    assert_eq!(status, 200);
    assert_eq!(settled_b["outcome"], "satisfied");
    assert_eq!(settled_b["sub_flows"], settled_a["sub_flows"]);

    let (status, body) = get_json(b, "/orchestrations/no-such-run").await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[actix_rt::test]
async fn a_settled_runs_report_outlives_a_restart() {
    let sandbox = spawn_sandbox().await;
    let topics = unique_topics();
    let dir = crate::helpers::temp_dir();
    let state_url = crate::helpers::sqlite_state(&dir);
    let first = spawn_replicas(1, &sandbox.base_url(), &topics, |s| {
        s.state.url = state_url.clone()
    })
    .await;
    let resp = awc::Client::new()
        .post(format!("{}/orchestrations", first[0].address))
        .send_json(&plan(3, 10))
        .await
        .expect("submit");
    let (status, body) = status_and_json(resp).await;
    assert_eq!(status, 202, "{body}");
    let path = format!(
        "/orchestrations/{}",
        body["run_id"].as_str().expect("run_id")
    );
    let before = eventually(Duration::from_secs(10), "the run to settle", || async {
        let (status, report) = get_json(&first[0].address, &path).await;
        (status == 200 && report["settled"] == true).then_some(report)
    })
    .await;
    // Its last snapshot is written in the background: wait until the store has it.
    eventually(Duration::from_secs(5), "the settled snapshot", || async {
        let snapshot = switchboard_actors::store::SqlRunReports::new(first[0].store.clone())
            .load(before["run_id"].as_str()?)
            .await
            .ok()??;
        snapshot.settled.then_some(())
    })
    .await;
    first[0].handle.stop(true).await;

    let second = spawn_replicas(1, &sandbox.base_url(), &topics, |s| {
        s.state.url = state_url.clone()
    })
    .await;
    let (status, after) = get_json(&second[0].address, &path).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["sub_flows"], before["sub_flows"]);
    assert_eq!(after["outcome"], "satisfied");
}

#[actix_rt::test]
async fn settled_runs_beyond_keep_finished_runs_are_forgotten_from_the_store() {
    let sandbox = spawn_sandbox().await;
    let topics = unique_topics();
    let dir = crate::helpers::temp_dir();
    let state_url = crate::helpers::sqlite_state(&dir);
    let keep_two = |s: &mut switchboard::config::Settings| {
        s.state.url = state_url.clone();
        s.orchestration.keep_finished_runs = 2;
    };
    let first = spawn_replicas(1, &sandbox.base_url(), &topics, keep_two).await;
    let mut paths = Vec::new();
    for _ in 0..3 {
        let report = run_to_settled(&first[0].address, &plan(2, 5)).await;
        let id = report["run_id"].as_str().expect("run_id").to_string();
        // Its settled snapshot is written in the background: wait until the store has it.
        eventually(Duration::from_secs(5), "the settled snapshot", || async {
            let snapshot = switchboard_actors::store::SqlRunReports::new(first[0].store.clone())
                .load(&id)
                .await
                .ok()??;
            snapshot.settled.then_some(())
        })
        .await;
        paths.push(format!("/orchestrations/{id}"));
    }
    first[0].handle.stop(true).await;

    // The restarted service deletes the oldest at start; the two newest stay readable.
    let second = spawn_replicas(1, &sandbox.base_url(), &topics, keep_two).await;
    eventually(
        Duration::from_secs(10),
        "the oldest run forgotten",
        || async {
            let (status, _) = get_json(&second[0].address, &paths[0]).await;
            (status == 404).then_some(())
        },
    )
    .await;
    for path in &paths[1..] {
        let (status, report) = get_json(&second[0].address, path).await;
        assert_eq!(status, 200, "{path}: {report}");
        assert_eq!(report["settled"], true);
    }
}

/// A plan of `chains` chains of `length` sub-flows of `latency_ms` each, all running at once:
/// each sub-flow starts when its predecessor's completion arrives.
fn chains_plan(chains: usize, length: usize, latency_ms: u64) -> Value {
    let id = |i: usize| format!("00000000-0000-4000-8000-{i:012}");
    let sub_flows: Vec<Value> = (0..chains * length)
        .map(|i| {
            let deps: Vec<String> = if i >= chains {
                vec![id(i - chains)]
            } else {
                vec![]
            };
            json!({
                "id": id(i),
                "depends_on": deps,
                "input_data": {"sandbox": {"latency_ms": latency_ms}}
            })
        })
        .collect();
    json!({"sub_flows": sub_flows, "concurrency_max": chains, "merge_condition": "ALL"})
}

/// Submits `plan` to `address` (202 expected); the path of its report.
async fn submit(address: &str, plan: &Value) -> String {
    let resp = awc::Client::new()
        .post(format!("{address}/orchestrations"))
        .send_json(plan)
        .await
        .expect("submit");
    let (status, body) = status_and_json(resp).await;
    assert_eq!(status, 202, "{body}");
    format!(
        "/orchestrations/{}",
        body["run_id"].as_str().expect("run_id")
    )
}

/// Submits `plan` to `address` and waits for its settled report.
async fn run_to_settled(address: &str, plan: &Value) -> Value {
    let path = submit(address, plan).await;
    eventually(Duration::from_secs(60), "the run to settle", || async {
        let (status, report) = get_json(address, &path).await;
        (status == 200 && report["settled"] == true).then_some(report)
    })
    .await
}

#[actix_rt::test]
async fn completions_sent_to_another_replica_reach_the_runs_owner_without_polling() {
    let sandbox = spawn_sandbox().await;
    let state_url = postgres_database().await;
    let topics = unique_topics();
    // No status poll within a minute: a completion arrives by its webhook or not at all.
    let no_polling = |s: &mut switchboard::config::Settings| {
        s.state.url = state_url.clone();
        s.orchestration.poll_after_ms = 60_000;
    };
    let b = spawn_replicas(1, &sandbox.base_url(), &topics, no_polling).await;
    let b = &b[0].address;
    // A registers B's webhook URL: every completion event is sent to B.
    let a = spawn_replicas(1, &sandbox.base_url(), &topics, |s| {
        no_polling(s);
        s.orchestration.callback_url = format!("{b}/cxone/webhook");
    })
    .await;
    let a = &a[0].address;
    let plan = chains_plan(8, 4, 100);

    // One replica: B runs the plan and gets its own completions.
    let alone = run_to_settled(b, &plan).await;
    assert_eq!(alone["outcome"], "satisfied", "{alone}");
    // Two replicas: A runs it, and every completion reaches A through the state store.
    let shared = run_to_settled(a, &plan).await;
    assert_eq!(shared["outcome"], "satisfied", "{shared}");
    let succeeded = shared["sub_flows"]
        .as_array()
        .expect("sub_flows")
        .iter()
        .filter(|s| s["status"] == "succeeded")
        .count();
    assert_eq!(succeeded, 32, "{shared}");

    let state = sandbox_state(&sandbox.base_url()).await;
    let requests = state["requests"].as_object().expect("requests");
    assert!(
        requests
            .keys()
            .all(|k| !k.starts_with("GET /api/v1/executions")),
        "no execution status was polled: {requests:?}"
    );
    let (alone_ms, shared_ms) = (
        alone["wall_clock_ms"].as_u64().expect("wall clock"),
        shared["wall_clock_ms"].as_u64().expect("wall clock"),
    );
    assert!(
        shared_ms <= 2 * alone_ms,
        "makespan with completions sent to the other replica: {shared_ms} ms, alone {alone_ms} ms"
    );
}

/// Executions the sandbox started for Data Action `id`.
async fn executions_of(sandbox_url: &str, id: &str) -> usize {
    executions_by_sub_flow(sandbox_url)
        .await
        .get(id)
        .copied()
        .unwrap_or(0)
}

#[actix_rt::test]
async fn a_transition_is_written_before_the_run_acts_on_it() {
    use sqlx::Connection as _;
    let sandbox = spawn_sandbox().await;
    let state_url = postgres_database().await;
    let replica = spawn_replicas(1, &sandbox.base_url(), &unique_topics(), |s| {
        s.state.url = state_url.clone();
    })
    .await;
    let first = "00000000-0000-4000-8000-000000000000";
    let second = "00000000-0000-4000-8000-000000000001";
    let plan = json!({
        "sub_flows": [
            {"id": first, "depends_on": [], "input_data": {"sandbox": {"latency_ms": 300}}},
            {"id": second, "depends_on": [first], "input_data": {"sandbox": {"latency_ms": 10}}}
        ],
        "concurrency_max": 2,
        "merge_condition": "ALL"
    });
    let path = submit(&replica[0].address, &plan).await;
    eventually(Duration::from_secs(10), "the first execution", || async {
        (executions_of(&sandbox.base_url(), first).await == 1).then_some(())
    })
    .await;

    // Block writes of sub-flow records while the first execution runs: its end cannot be
    // written, so the second sub-flow must not be posted.
    let mut blocker = sqlx::PgConnection::connect(&state_url)
        .await
        .expect("connect");
    sqlx::query("BEGIN")
        .execute(&mut blocker)
        .await
        .expect("begin");
    sqlx::query("LOCK TABLE run_sub_flows IN EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .expect("lock");
    let mut watcher = sqlx::PgConnection::connect(&state_url)
        .await
        .expect("connect");
    // Wait for the run's write of the first end to wait for the lock.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
             WHERE c.relname = 'run_sub_flows' AND NOT l.granted",
        )
        .fetch_one(&mut watcher)
        .await
        .expect("pg_locks");
        if waiting > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the run never wrote the first sub-flow's end"
        );
        actix_rt::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        executions_of(&sandbox.base_url(), second).await,
        0,
        "the second sub-flow was posted before the first one's end was written"
    );

    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("unlock");
    let report = eventually(Duration::from_secs(10), "the run to settle", || async {
        let (status, report) = get_json(&replica[0].address, &path).await;
        (status == 200 && report["settled"] == true).then_some(report)
    })
    .await;
    assert_eq!(report["outcome"], "satisfied", "{report}");
    assert_eq!(executions_of(&sandbox.base_url(), second).await, 1);
    let _ = blocker.close().await;
    let _ = watcher.close().await;
}
