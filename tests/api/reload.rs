//! Rules reload on SIGHUP, on a `switchboard serve` process under load: events after the
//! reload follow the new rules (to a topic the reload created), no request fails during the
//! swap, and a broken file (a bad pattern, a partition the topic lacks) keeps the old rules,
//! with a line saying why and the outcome in `/metrics`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::Digest as _;

use crate::helpers::{
    eventually, metric_value, send_event, serve_command, spawn_sandbox, spawn_service, temp_dir,
    Answered, Service,
};

/// Senders during the swap.
const SENDERS: usize = 8;

/// The version `/metrics` should show for a rules file's text: the first 12 hex digits of its
/// SHA-256.
fn version_of(text: &str) -> String {
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn rules(topic: &str, partition: i32, pattern: &str) -> String {
    format!("[[rules]]\npattern = '{pattern}'\ntopic = \"{topic}\"\npartition = {partition}\n")
}

async fn metrics(address: &str) -> String {
    let mut resp = awc::Client::new()
        .get(format!("{address}/metrics"))
        .send()
        .await
        .expect("/metrics");
    String::from_utf8_lossy(&resp.body().await.expect("metrics body")).into_owned()
}

/// The version `switchboard_rules_info` shows (its only series).
async fn version_in_force(address: &str) -> Option<String> {
    let text = metrics(address).await;
    let line = text
        .lines()
        .find(|l| l.starts_with("switchboard_rules_info{"))?;
    let version = line.split("version=\"").nth(1)?.split('"').next()?;
    Some(version.to_string())
}

async fn reloads(address: &str, outcome: &str) -> f64 {
    metric_value(
        &metrics(address).await,
        "switchboard_rules_reloads_total",
        &BTreeMap::from([("outcome", outcome)]),
    )
}

/// One answer: when its request started, status, topic and partition.
type Answer = (Instant, u16, String, i64);

async fn sender(
    n: usize,
    address: String,
    answers: Rc<RefCell<Vec<Answer>>>,
    failures: Rc<RefCell<Vec<String>>>,
    stop: Rc<RefCell<bool>>,
) {
    let http = awc::Client::builder()
        .timeout(Duration::from_secs(30))
        .finish();
    for i in 0.. {
        if *stop.borrow() {
            return;
        }
        let started = Instant::now();
        let id = format!("reload-{n}-{i}");
        let (status, body) = match send_event(&http, &address, &id, json!({"n": n, "i": i})).await {
            Ok(answer) => (answer.status, answer.body),
            Err(failure) => return failures.borrow_mut().push(failure),
        };
        if status != 200 || body["status"] != "routed" {
            failures.borrow_mut().push(format!("{status} {body}"));
            continue;
        }
        let topic = body["topic"].as_str().unwrap_or_default().to_string();
        let partition = body["partition"].as_i64().unwrap_or(-1);
        answers
            .borrow_mut()
            .push((started, status, topic, partition));
    }
}

/// Routes one event; its topic and partition.
async fn route_one(address: &str, id: &str) -> (String, i64) {
    let Answered { status, body, .. } =
        send_event(&awc::Client::new(), address, id, json!({"one": true}))
            .await
            .expect("answer");
    assert_eq!(status, 200, "{body}");
    (
        body["topic"].as_str().unwrap_or_default().to_string(),
        body["partition"].as_i64().unwrap_or(-1),
    )
}

/// SIGHUP, then waits for `outcome` to be counted once more.
async fn reload(service: &Service, outcome: &str) {
    let before = reloads(&service.address, outcome).await;
    service.signal("HUP");
    eventually(
        Duration::from_secs(10),
        &format!("a reload counted {outcome}"),
        || async { (reloads(&service.address, outcome).await > before).then_some(()) },
    )
    .await;
}

#[actix_rt::test]
async fn sighup_swaps_the_rules_under_load_and_a_broken_file_keeps_the_old_ones() {
    crate::helpers::init_logging();
    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (old_topic, new_topic) = (format!("sbt-{id}-before"), format!("sbt-{id}-after"));
    let rules_file = dir.join("reload-routes.toml");
    let first = rules(&old_topic, 0, ".*");
    std::fs::write(&rules_file, &first).expect("rules file");
    let state_url = crate::helpers::sqlite_state(&dir);
    let (mut command, port) = serve_command(&dir, &sandbox.base_url(), "reload", &state_url);
    command.env("SWITCHBOARD__ROUTING__RULES_FILE", &rules_file);
    let mut service = spawn_service(command, port).await;
    let address = service.address.clone();
    assert_eq!(version_in_force(&address).await, Some(version_of(&first)));

    let answers = Rc::new(RefCell::new(Vec::new()));
    let failures = Rc::new(RefCell::new(Vec::new()));
    let stop = Rc::new(RefCell::new(false));
    let senders: Vec<_> = (0..SENDERS)
        .map(|n| {
            actix_rt::spawn(sender(
                n,
                address.clone(),
                answers.clone(),
                failures.clone(),
                stop.clone(),
            ))
        })
        .collect();
    eventually(
        Duration::from_secs(30),
        "load before the reload",
        || async { (answers.borrow().len() >= 200).then_some(()) },
    )
    .await;

    // The new rules name a topic that does not exist yet, on partition 1.
    let second = rules(&new_topic, 1, ".*");
    std::fs::write(&rules_file, &second).expect("rules file");
    let signalled = Instant::now();
    service.signal("HUP");
    eventually(Duration::from_secs(5), "the new rules in force", || async {
        (version_in_force(&address).await? == version_of(&second)).then_some(())
    })
    .await;
    let applied = Instant::now();
    let count_at_apply = answers.borrow().len();
    eventually(Duration::from_secs(30), "load after the reload", || async {
        (answers.borrow().len() >= count_at_apply + 200).then_some(())
    })
    .await;
    *stop.borrow_mut() = true;
    for s in senders {
        s.await.expect("sender");
    }
    assert!(
        failures.borrow().is_empty(),
        "no request fails during the swap: {:?}",
        failures.borrow()
    );
    let answers = std::mem::take(&mut *answers.borrow_mut());
    let (mut before, mut after) = (0, 0);
    for (started, _, topic, partition) in &answers {
        if *started >= applied {
            assert_eq!(
                (topic.as_str(), *partition),
                (new_topic.as_str(), 1),
                "sent after the reload"
            );
        }
        match topic {
            t if *t == old_topic => before += 1,
            t if *t == new_topic => after += 1,
            other => panic!("routed to {other}"),
        }
    }
    assert!(
        before >= 200 && after >= 200,
        "{before} before, {after} after"
    );
    println!(
        "reload applied {:?} after SIGHUP; {before} events routed by the old rules, {after} by the new",
        applied - signalled
    );

    // A pattern that does not compile: the old rules stay.
    std::fs::write(&rules_file, rules(&old_topic, 0, "(")).expect("rules file");
    reload(&service, "failed").await;
    assert_eq!(version_in_force(&address).await, Some(version_of(&second)));
    assert_eq!(
        route_one(&address, "reload-broken-1").await,
        (new_topic.clone(), 1)
    );
    // A partition the topic lacks (3 partitions): the old rules stay.
    std::fs::write(&rules_file, rules(&new_topic, 9, ".*")).expect("rules file");
    reload(&service, "failed").await;
    assert_eq!(version_in_force(&address).await, Some(version_of(&second)));
    assert_eq!(
        route_one(&address, "reload-broken-2").await,
        (new_topic.clone(), 1)
    );
    let log = std::fs::read_to_string(dir.join("reload.log")).expect("service log");
    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("event=reload_failed"))
        .collect();
    assert_eq!(failed.len(), 2, "{log}");
    assert!(failed[0].contains("pattern"), "{}", failed[0]);
    assert!(failed[1].contains("partition 9"), "{}", failed[1]);
    assert!(
        log.contains(&format!("event=reloaded path={}", rules_file.display())),
        "{log}"
    );

    service.terminate().await;
}
