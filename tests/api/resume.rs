//! A run survives its service being SIGKILLed (a 200-sub-flow plan, cap 10, ~200 ms each): the
//! service restarted on the same state store, or another replica on PostgreSQL,
//! claims the run once its lease passes and finishes it, and no sub-flow is executed twice.
//! A graceful stop (SIGTERM) hands the run over at once: the other replica claims it at its
//! next heartbeat, without waiting for the lease to pass.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use switchboard_actors::store::{SqlRunReports, Store};

use crate::helpers::{
    eventually, executions_by_sub_flow, postgres_database, serve_command, spawn_sandbox,
    spawn_service, start_service, status_and_json, temp_dir, Service, LEASE,
};

/// The plan: [`SUB_FLOWS`] sub-flows in 10 chains (each depends on the one 10 before it),
/// cap 10, ~200 ms each; the last one, which also waits for the other chains' ends, fails, so
/// with `ALL` the run is `unsatisfied` — a decision the resumed run must reach from the
/// recorded and the new ends alike, with every other sub-flow succeeded.
fn plan() -> Value {
    let sub_flows: Vec<Value> = (0..SUB_FLOWS)
        .map(|i| {
            let deps: Vec<String> = if i == SUB_FLOWS - 1 {
                // The failing one waits for every other chain's end, so it ends last whatever
                // order the resumed run starts the pending sub-flows in.
                (SUB_FLOWS - 11..SUB_FLOWS - 1)
                    .map(|d| format!("00000000-0000-4000-8000-{d:012}"))
                    .collect()
            } else if i >= 10 {
                vec![format!("00000000-0000-4000-8000-{:012}", i - 10)]
            } else {
                vec![]
            };
            let outcome = if i == SUB_FLOWS - 1 {
                "failed"
            } else {
                "succeeded"
            };
            json!({
                "id": format!("00000000-0000-4000-8000-{i:012}"),
                "depends_on": deps,
                "input_data": {"sandbox": {"latency_ms": 200, "outcome": outcome}}
            })
        })
        .collect();
    json!({"sub_flows": sub_flows, "concurrency_max": 10, "merge_condition": "ALL"})
}

const SUB_FLOWS: usize = 200;

/// How the first service stops mid-run.
enum Stop {
    /// SIGKILL: its leases pass.
    Kill,
    /// SIGTERM: a graceful stop, which must exit 0.
    Term,
}

/// Submits the plan to `first`, stops it (`stop`) once a third of the executions started, and
/// checks that `finisher` (already running, or started by `then`) claims the run (within
/// `claim_within` of the signal, when given) and settles it with one execution per sub-flow.
async fn stopped_mid_run_then_finished_by<F, Fut>(
    mut first: Service,
    stop: Stop,
    sandbox_url: &str,
    state_url: &str,
    claim_within: Option<Duration>,
    then: F,
) where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Service>,
{
    let resp = awc::Client::new()
        .post(format!("{}/orchestrations", first.address))
        .send_json(&plan())
        .await
        .expect("submit");
    let (status, body) = status_and_json(resp).await;
    assert_eq!(status, 202, "{body}");
    let run_id = body["run_id"].as_str().expect("run_id").to_string();
    // Mid-run: some sub-flows done, some running, most pending.
    eventually(
        Duration::from_secs(20),
        "a third of the executions",
        || async {
            let started: usize = executions_by_sub_flow(sandbox_url).await.values().sum();
            (started >= SUB_FLOWS / 3).then_some(())
        },
    )
    .await;
    let store = Store::open(state_url, 1).await.expect("the state store");
    let runs = SqlRunReports::new(store);
    let owner = |runs: SqlRunReports, run_id: String| async move {
        runs.load(&run_id)
            .await
            .expect("load")
            .expect("the run is recorded")
            .owner
    };
    let first_owner = owner(runs.clone(), run_id.clone()).await;
    let killed = Instant::now();
    match stop {
        Stop::Kill => drop(first),
        Stop::Term => {
            first.terminate().await;
        }
    }

    let finisher = then().await;
    eventually(
        Duration::from_secs(30),
        "another owner to claim the run",
        || async { (owner(runs.clone(), run_id.clone()).await != first_owner).then_some(()) },
    )
    .await;
    let claimed_after = killed.elapsed();
    if let Some(bound) = claim_within {
        assert!(
            claimed_after <= bound,
            "claimed {claimed_after:?} after the signal, more than {bound:?}"
        );
    }
    let path = format!("{}/orchestrations/{run_id}", finisher.address);
    let report = eventually(
        Duration::from_secs(60),
        "the resumed run to settle",
        || async {
            let resp = awc::Client::new().get(&path).send().await.ok()?;
            let (status, report) = status_and_json(resp).await;
            (status == 200 && report["settled"] == true).then_some(report)
        },
    )
    .await;
    assert_eq!(report["outcome"], "unsatisfied", "the last sub-flow failed");
    let statuses: Vec<&str> = report["sub_flows"]
        .as_array()
        .expect("sub_flows")
        .iter()
        .map(|s| s["status"].as_str().unwrap_or(""))
        .collect();
    let (last, others) = statuses.split_last().expect("sub-flows");
    assert_eq!(*last, "failed");
    assert!(others.iter().all(|s| *s == "succeeded"), "{statuses:?}");
    let executions = executions_by_sub_flow(sandbox_url).await;
    assert_eq!(
        executions.len(),
        SUB_FLOWS,
        "every sub-flow executed: {executions:?}"
    );
    assert!(
        executions.values().all(|&c| c == 1),
        "no sub-flow executed twice: {executions:?}"
    );
}

#[actix_rt::test]
async fn a_run_whose_service_was_sigkilled_is_resumed_after_a_restart_with_one_execution_per_sub_flow(
) {
    crate::helpers::init_logging();
    let sandbox = spawn_sandbox().await;
    let sandbox_url = sandbox.base_url();
    let dir = temp_dir();
    let state_url = crate::helpers::sqlite_state(&dir);
    let first = start_service(&dir, &sandbox_url, "first", &state_url).await;
    stopped_mid_run_then_finished_by(first, Stop::Kill, &sandbox_url, &state_url, None, || {
        start_service(&dir, &sandbox_url, "second", &state_url)
    })
    .await;
}

#[actix_rt::test]
async fn a_run_of_a_sigkilled_replica_is_claimed_and_finished_by_the_other_on_postgresql() {
    crate::helpers::init_logging();
    let sandbox = spawn_sandbox().await;
    let sandbox_url = sandbox.base_url();
    let dir = temp_dir();
    let state_url = postgres_database().await;
    let a = start_service(&dir, &sandbox_url, "a", &state_url).await;
    let b = start_service(&dir, &sandbox_url, "b", &state_url).await;
    // A's lease passes at most a lease after the SIGKILL, and B looks every third of one;
    // one more second for this shared machine.
    let bound = LEASE + LEASE / 3 + Duration::from_secs(1);
    stopped_mid_run_then_finished_by(
        a,
        Stop::Kill,
        &sandbox_url,
        &state_url,
        Some(bound),
        || async { b },
    )
    .await;
}

#[actix_rt::test]
async fn a_replica_stopped_gracefully_hands_its_run_over_before_the_lease_passes() {
    crate::helpers::init_logging();
    let sandbox = spawn_sandbox().await;
    let sandbox_url = sandbox.base_url();
    let dir = temp_dir();
    let state_url = postgres_database().await;
    // A lease of 9 s, renewed every 3 s: a lease left to pass would keep the run A's for at
    // least 6 s after its stop. No drain window: the runs are handed over when it ends.
    let lease = Duration::from_secs(9);
    let start = |tag: &'static str| {
        let (mut command, port) = serve_command(&dir, &sandbox_url, tag, &state_url);
        command
            .env(
                "SWITCHBOARD__ORCHESTRATION__LEASE_SECS",
                lease.as_secs().to_string(),
            )
            .env("SWITCHBOARD__SERVER__SHUTDOWN_TIMEOUT_SECS", "0");
        spawn_service(command, port)
    };
    let a = start("a").await;
    let b = start("b").await;
    // B looks every third of a lease; one more second and a half for the stop itself and
    // this shared machine: still short of the 6 s the lease would take.
    let bound = lease / 3 + Duration::from_millis(1_500);
    stopped_mid_run_then_finished_by(
        a,
        Stop::Term,
        &sandbox_url,
        &state_url,
        Some(bound),
        || async { b },
    )
    .await;
}
