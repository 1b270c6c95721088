//! A forced restart as the service's own JSON log output shows it: exactly one line with
//! `event` `restarted`, the actor, `restarts` 1 (an integer) and the cause; `/actors` shows the
//! same restart. Its own test binary, so that its logger (the service's, writing JSON to a
//! buffer) is the process's only one.

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use switchboard_actors::StopActor;

/// The logger's target: every byte it writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Every line so far, each parsed as JSON (a line that is not JSON fails the test).
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().expect("log buffer").clone();
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

fn restarts_of(lines: &[Value], actor: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["actor"] == actor && l["event"] == "restarted")
        .cloned()
        .collect()
}

#[actix_rt::test]
async fn a_forced_restart_is_one_json_line_with_its_count_and_cause() {
    // As an operator sets it: the settings every app of this test loads read it too.
    std::env::set_var("SWITCHBOARD__LOG__FORMAT", "json");
    let captured = Captured::default();
    let mut builder = switchboard::logging::builder();
    builder
        .target(env_logger::Target::Pipe(Box::new(captured.clone())))
        .filter_level(log::LevelFilter::Info);
    switchboard::logging::try_init(&mut builder).expect("the test binary's only logger");

    let app = helpers::spawn_app().await;
    assert!(
        restarts_of(&captured.lines(), "KafkaRouterActor").is_empty(),
        "no restart yet"
    );
    app.actors.router.do_send(StopActor);
    helpers::eventually(Duration::from_secs(5), "the restart line", || async {
        (!restarts_of(&captured.lines(), "KafkaRouterActor").is_empty()).then_some(())
    })
    .await;
    let (status, actors) = app.get("/actors").await;
    assert_eq!(status, 200);
    let router = &actors[0];
    assert_eq!(router["actor"], "KafkaRouterActor", "{actors}");
    assert_eq!(router["restarts"], 1, "{router}");

    let lines = captured.lines();
    let restarted = restarts_of(&lines, "KafkaRouterActor");
    assert_eq!(restarted.len(), 1, "one line: {restarted:?}");
    let line = &restarted[0];
    assert_eq!(line["restarts"], 1, "an integer: {line}");
    assert_eq!(line["level"], "WARN");
    assert_eq!(
        line["cause"].as_str(),
        router["last_restart"]["cause"].as_str(),
        "the cause /actors shows: {line}"
    );
    assert!(
        line["cause"]
            .as_str()
            .is_some_and(|c| c.contains("StopActor")),
        "{line}"
    );
    for l in &lines {
        for member in ["ts", "level", "target", "msg"] {
            assert!(l[member].is_string(), "{member} missing: {l}");
        }
    }
}
