//! The state store on both backends: SQLite in a temporary file, and the PostgreSQL server the
//! test command starts (`SWITCHBOARD_TEST_POSTGRES_URL`, set by `scripts/test.sh`), each test
//! on a new, empty database.

use sqlx::Connection as _;
use switchboard_actors::exports::{Checkpoint, CheckpointStore};
use switchboard_actors::store::{Backend, SqlCheckpointStore, Store, StoreError, MIGRATOR};

fn sqlite_url() -> String {
    let dir = std::env::temp_dir().join(format!("sb-store-{}", uuid::Uuid::new_v4()));
    // The directory does not exist yet: opening the store creates it.
    format!("sqlite://{}", dir.join("nested").join("state.db").display())
}

/// Two tests of the async function `$test(url)`: `$sqlite` on a new SQLite file and
/// `$postgres` on a new PostgreSQL database.
macro_rules! on_both_backends {
    ($test:ident => $sqlite:ident, $postgres:ident) => {
        #[actix_rt::test]
        async fn $sqlite() {
            $test(&crate::sqlite_url()).await;
        }

        #[actix_rt::test]
        async fn $postgres() {
            $test(&crate::postgres_url().await).await;
        }
    };
}

async fn postgres_url() -> String {
    let server = std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").expect(
        "SWITCHBOARD_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    );
    let name = format!("sbstore_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a database");
    let _ = conn.close().await;
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

fn checkpoint(offset: u64, baseline: Option<&[&str]>) -> Checkpoint {
    Checkpoint {
        export_job_id: "job-1".into(),
        report_id: "report-1".into(),
        next_offset: offset,
        baseline: baseline.map(|b| b.iter().map(|s| s.to_string()).collect()),
    }
}

/// Migrations apply to an empty database, and opening it again applies none and keeps data.
async fn migrations_apply_once_and_keep_data(url: &str, backend: Backend) {
    let all: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
    assert!(!all.is_empty());
    let store = Store::open(url, 2).await.expect("opens an empty database");
    assert_eq!(store.backend(), backend);
    assert_eq!(store.applied_migrations().await.expect("versions"), all);
    let checkpoints = SqlCheckpointStore::new(store.clone());
    checkpoints.save(checkpoint(7, None)).await.expect("saved");
    store.close().await;

    let again = Store::open(url, 2).await.expect("opens a current database");
    assert_eq!(again.applied_migrations().await.expect("versions"), all);
    let kept = SqlCheckpointStore::new(again.clone())
        .load("job-1")
        .await
        .expect("loads");
    assert_eq!(
        kept,
        Some(checkpoint(7, None)),
        "a no-op migration keeps rows"
    );
    again.close().await;
}

/// A save replaces the job's row; a load reads back exactly what was saved.
async fn checkpoints_round_trip(url: &str) {
    let store = Store::open(url, 2).await.expect("store");
    let checkpoints = SqlCheckpointStore::new(store.clone());
    assert_eq!(checkpoints.load("job-1").await.expect("load"), None);
    checkpoints
        .save(checkpoint(1_200, Some(&["a", "b"])))
        .await
        .expect("save");
    let newer = checkpoint(u64::from(u32::MAX) + 5, Some(&["a", "b", "é \"quoted\""]));
    checkpoints.save(newer.clone()).await.expect("save again");
    assert_eq!(checkpoints.load("job-1").await.expect("load"), Some(newer));
    assert_eq!(checkpoints.load("job-2").await.expect("load"), None);

    // A row that cannot be read back is an error, not a checkpoint at 0.
    sqlx::query(
        "UPDATE export_checkpoints SET baseline = 'not json' WHERE export_job_id = 'job-1'",
    )
    .execute(store.pool())
    .await
    .expect("damage the row");
    match checkpoints.load("job-1").await {
        Err(StoreError::Corrupt { what, .. }) => assert_eq!(what, "export checkpoint"),
        other => panic!("expected a corrupt row, got {other:?}"),
    }
    store.close().await;
}

#[actix_rt::test]
async fn sqlite_migrations_apply_once_and_keep_data() {
    migrations_apply_once_and_keep_data(&sqlite_url(), Backend::Sqlite).await;
}

#[actix_rt::test]
async fn postgres_migrations_apply_once_and_keep_data() {
    migrations_apply_once_and_keep_data(&postgres_url().await, Backend::Postgres).await;
}

on_both_backends!(
    checkpoints_round_trip =>
    sqlite_checkpoints_round_trip,
    postgres_checkpoints_round_trip
);

#[actix_rt::test]
async fn an_unknown_scheme_or_an_unreachable_database_is_refused_without_its_password() {
    assert!(matches!(
        Store::open("mysql://u:p@h/d", 1).await,
        Err(StoreError::Scheme)
    ));
    // Nothing listens on port 1.
    let e = Store::open("postgres://sb:hunter2@127.0.0.1:1/sb", 1)
        .await
        .expect_err("unreachable");
    assert!(
        matches!(
            e,
            StoreError::Database {
                backend: Backend::Postgres,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(!format!("{e:?}").contains("hunter2"), "{e:?}");
}

mod shared_dedupe {
    use std::time::{Duration, Instant};

    use switchboard_actors::router::DedupeKey;
    use switchboard_actors::store::{Claim, SharedDedupe, Store};

    fn key(s: &str) -> DedupeKey {
        DedupeKey::webhook_id(s)
    }

    /// Claims `k` as `who` (claim numbers from `claim` up) until it is ours, or fails after
    /// 5 s.
    async fn claimed_eventually(who: &SharedDedupe, k: DedupeKey, claim: i64) {
        let deadline = Instant::now() + Duration::from_secs(5);
        for n in claim.. {
            if who.claim(&[k], n).await.expect("claim")[&k] == Claim::Ours {
                return;
            }
            assert!(Instant::now() < deadline, "the key was never free again");
            tokio::task::yield_now().await;
        }
    }

    async fn two_replicas_share_one_window(url: &str) {
        let store = Store::open(url, 4).await.expect("store");
        let hour = Duration::from_secs(3600);
        let a = SharedDedupe::new(store.clone(), "replica-a".into(), hour, hour);
        let b = SharedDedupe::new(store.clone(), "replica-b".into(), hour, hour);
        let (k1, k2) = (key("k1"), key("k2"));

        let claims = a.claim(&[k1, k2, k1], 1).await.expect("claim");
        assert_eq!(
            (claims[&k1], claims[&k2], claims.len()),
            (Claim::Ours, Claim::Ours, 2)
        );
        assert_eq!(
            b.claim(&[k1], 1).await.expect("claim")[&k1],
            Claim::InFlightElsewhere
        );
        assert_eq!(
            a.claim(&[k1], 2).await.expect("claim")[&k1],
            Claim::Ours,
            "A's own delivery in flight is A's to decide"
        );
        // A renewal that does not move the watermark routes nothing.
        a.advance(0).await.expect("advance");
        assert_eq!(
            b.claim(&[k1], 2).await.expect("claim")[&k1],
            Claim::InFlightElsewhere
        );

        a.release(&[k2]).await.expect("release");
        assert_eq!(
            b.claim(&[k2], 3).await.expect("claim")[&k2],
            Claim::Ours,
            "a failed delivery's key is free for any replica"
        );
        // Every key of A's claims 1 and 2 ended: k1 is routed, for both.
        a.advance(2).await.expect("advance");
        assert_eq!(b.claim(&[k1], 4).await.expect("claim")[&k1], Claim::Routed);
        assert_eq!(a.claim(&[k1], 3).await.expect("claim")[&k1], Claim::Routed);
        // A cannot release what B holds, nor a routed key.
        a.release(&[k1, k2]).await.expect("release");
        assert_eq!(
            a.claim(&[k2], 4).await.expect("claim")[&k2],
            Claim::InFlightElsewhere
        );
        assert_eq!(b.claim(&[k1], 5).await.expect("claim")[&k1], Claim::Routed);
        // B's watermark is B's: A's does not route B's keys.
        a.advance(4).await.expect("advance");
        assert_eq!(
            a.claim(&[k2], 5).await.expect("claim")[&k2],
            Claim::InFlightElsewhere
        );

        // Many keys in one claim.
        let many: Vec<DedupeKey> = (0..1_200).map(|i| key(&format!("many-{i}"))).collect();
        let claims = a.claim(&many, 5).await.expect("claim");
        assert!(claims.values().all(|c| *c == Claim::Ours) && claims.len() == 1_200);
        let claims = b.claim(&many, 6).await.expect("claim");
        assert!(claims.values().all(|c| *c == Claim::InFlightElsewhere));
        a.advance(5).await.expect("advance");
        let claims = b.claim(&many, 7).await.expect("claim");
        assert!(claims.values().all(|c| *c == Claim::Routed));
        store.close().await;
    }

    async fn leases_and_windows_pass(url: &str) {
        let store = Store::open(url, 4).await.expect("store");
        let hour = Duration::from_secs(3600);
        // A replica that stops renewing its lease: another may take its unrouted keys, not
        // its routed ones.
        let dying = SharedDedupe::new(store.clone(), "dying".into(), hour, Duration::ZERO);
        let other = SharedDedupe::new(store.clone(), "other".into(), hour, hour);
        let (routed, unrouted) = (key("routed-before"), key("leased"));
        assert_eq!(
            dying.claim(&[routed], 1).await.expect("claim")[&routed],
            Claim::Ours
        );
        dying.advance(1).await.expect("advance");
        assert_eq!(
            dying.claim(&[unrouted], 2).await.expect("claim")[&unrouted],
            Claim::Ours
        );
        claimed_eventually(&other, unrouted, 1).await;
        assert_eq!(
            other.claim(&[routed], 100).await.expect("claim")[&routed],
            Claim::Routed,
            "routed before its owner went"
        );
        // A routed key is a duplicate only within the window.
        let brief = SharedDedupe::new(store.clone(), "brief".into(), Duration::ZERO, hour);
        let w = key("windowed");
        assert_eq!(brief.claim(&[w], 1).await.expect("claim")[&w], Claim::Ours);
        brief.advance(1).await.expect("advance");
        claimed_eventually(&other, w, 200).await;
        // A key in flight at a replica that renews its lease stays its own past the window.
        let slow = key("slow");
        assert_eq!(
            brief.claim(&[slow], 2).await.expect("claim")[&slow],
            Claim::Ours
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(
            other.claim(&[slow], 300).await.expect("claim")[&slow],
            Claim::InFlightElsewhere
        );
        // Expired rows are deleted by the cleanup; live ones stay.
        let gone = SharedDedupe::new(store.clone(), "gone".into(), Duration::ZERO, hour);
        gone.claim(&[key("expired-1"), key("expired-2")], 1)
            .await
            .expect("claim");
        let deadline = Instant::now() + Duration::from_secs(5);
        while other.forget_expired().await.expect("cleanup") == 0 {
            assert!(Instant::now() < deadline, "nothing expired");
            tokio::task::yield_now().await;
        }
        assert_eq!(
            other.claim(&[unrouted], 301).await.expect("claim")[&unrouted],
            Claim::Ours,
            "live rows stay"
        );
        store.close().await;
    }

    async fn a_cleanup_deletes_every_expired_key_in_batches(url: &str) {
        let store = Store::open(url, 2).await.expect("store");
        let hour = Duration::from_secs(3600);
        let gone = SharedDedupe::new(store.clone(), "gone".into(), Duration::ZERO, hour);
        let live = SharedDedupe::new(store.clone(), "live".into(), hour, hour);
        let expired: Vec<DedupeKey> = (0..2_500).map(|i| key(&format!("old-{i}"))).collect();
        gone.claim(&expired, 1).await.expect("claim");
        let kept = key("kept");
        assert_eq!(
            live.claim(&[kept], 1).await.expect("claim")[&kept],
            Claim::Ours
        );
        // Windows of zero pass within the next millisecond.
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(
            live.forget_expired_in_batches_of(1_000)
                .await
                .expect("cleanup"),
            2_500,
            "three statements: 1 000, 1 000 and 500"
        );
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dedupe_keys")
            .fetch_one(store.pool())
            .await
            .expect("count");
        assert_eq!(left, 1, "the live key stays");
        store.close().await;
    }

    #[actix_rt::test]
    async fn postgres_the_window_survives_its_connections_being_ended_by_the_server() {
        // As after a restart of PostgreSQL: the window's pool does not check a connection
        // before each statement, so the first statement on one the server ended fails, and
        // runs once more on a new one.
        let url = super::postgres_url().await;
        let store = Store::open(&url, 2).await.expect("store");
        let lean = store.lean(1).await.expect("the window's pool");
        let hour = Duration::from_secs(3600);
        let window = SharedDedupe::new(lean.clone(), "a".into(), hour, hour);
        let end_every_other_connection = || async {
            let ended: Vec<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .fetch_all(store.pool())
            .await
            .expect("terminate");
            assert!(!ended.is_empty() && ended.iter().all(|e| *e), "{ended:?}");
        };
        // Its commits do not wait for the WAL flush; the other state's do.
        let commit = |store: Store| async move {
            let setting: String = sqlx::query_scalar("SHOW synchronous_commit")
                .fetch_one(store.pool())
                .await
                .expect("show");
            setting
        };
        assert_eq!(commit(lean.clone()).await, "off");
        assert_eq!(commit(store.clone()).await, "on");
        let (first, second) = (key("before"), key("after"));
        assert_eq!(
            window.claim(&[first], 1).await.expect("claim")[&first],
            Claim::Ours
        );
        end_every_other_connection().await;
        assert_eq!(
            window
                .claim(&[second], 2)
                .await
                .expect("a claim on a new connection")[&second],
            Claim::Ours
        );
        end_every_other_connection().await;
        window.advance(2).await.expect("advance");
        let other = SharedDedupe::new(store.clone(), "b".into(), hour, hour);
        let claims = other.claim(&[first, second], 1).await.expect("claim");
        assert!(claims.values().all(|c| *c == Claim::Routed), "{claims:?}");
        lean.close().await;
        store.close().await;
    }

    on_both_backends!(
        a_cleanup_deletes_every_expired_key_in_batches =>
        sqlite_a_cleanup_deletes_every_expired_key_in_batches,
        postgres_a_cleanup_deletes_every_expired_key_in_batches
    );

    on_both_backends!(
        two_replicas_share_one_window =>
        sqlite_two_replicas_share_one_window,
        postgres_two_replicas_share_one_window
    );

    on_both_backends!(
        leases_and_windows_pass =>
        sqlite_leases_and_windows_pass,
        postgres_leases_and_windows_pass
    );
}

mod completions {
    use std::time::Duration;

    use switchboard_actors::store::{SqlCompletions, Store, StoredCompletion};

    fn event(id: &str, execution: &str, status: &str) -> StoredCompletion {
        StoredCompletion {
            event_id: id.into(),
            execution_id: execution.into(),
            status: status.into(),
        }
    }

    async fn the_first_event_of_an_execution_is_kept_until_taken(url: &str) {
        let store = Store::open(url, 2).await.expect("open");
        let events = SqlCompletions::new(store.clone());
        assert!(events
            .record(&event("e1", "x1", "failed"))
            .await
            .expect("record"));
        assert!(
            !events
                .record(&event("e2", "x1", "succeeded"))
                .await
                .expect("record"),
            "a second event of x1 is not stored"
        );
        assert!(events
            .record(&event("e3", "x2", "succeeded"))
            .await
            .expect("record"));
        assert_eq!(
            events.take("x1").await.expect("take"),
            Some(event("e1", "x1", "failed"))
        );
        assert_eq!(events.take("x1").await.expect("take"), None, "taken once");
        assert_eq!(events.take("nope").await.expect("take"), None);
        // Forgetting honours the time: nothing is older than a minute ago; x2 is older than
        // a minute from now.
        let now = chrono::Utc::now().timestamp_millis();
        assert_eq!(
            events
                .forget_received_before(now - 60_000)
                .await
                .expect("forget"),
            0
        );
        assert_eq!(
            events
                .forget_received_before(now + 60_000)
                .await
                .expect("forget"),
            1
        );
        assert_eq!(events.take("x2").await.expect("take"), None);
        store.close().await;
    }

    #[tokio::test]
    async fn sqlite_the_first_event_of_an_execution_is_kept_until_taken() {
        the_first_event_of_an_execution_is_kept_until_taken(&super::sqlite_url()).await;
        let store = Store::open(&super::sqlite_url(), 1).await.expect("open");
        assert!(
            SqlCompletions::new(store)
                .listen()
                .await
                .expect("listen")
                .is_none(),
            "SQLite: one process, nothing to listen to"
        );
    }

    #[tokio::test]
    async fn postgres_the_first_event_of_an_execution_is_kept_until_taken() {
        the_first_event_of_an_execution_is_kept_until_taken(&super::postgres_url().await).await;
    }

    #[tokio::test]
    async fn postgres_an_event_recorded_by_one_replica_is_announced_to_another() {
        let url = super::postgres_url().await;
        let a = SqlCompletions::new(Store::open(&url, 2).await.expect("open a"));
        let b = SqlCompletions::new(Store::open(&url, 2).await.expect("open b"));
        let mut listener = b
            .listen()
            .await
            .expect("listen")
            .expect("a PostgreSQL listener");
        assert!(a
            .record(&event("e1", "x1", "succeeded"))
            .await
            .expect("record"));
        // A second event of the same execution is neither stored nor announced.
        assert!(!a
            .record(&event("e2", "x1", "failed"))
            .await
            .expect("record"));
        assert!(a
            .record(&event("e3", "x2", "failed"))
            .await
            .expect("record"));
        let mut got = Vec::new();
        for _ in 0..2 {
            let n = tokio::time::timeout(Duration::from_secs(5), listener.recv())
                .await
                .expect("an announcement within 5 s")
                .expect("recv");
            got.push(serde_json::from_str::<StoredCompletion>(n.payload()).expect("payload"));
        }
        assert_eq!(
            got,
            vec![event("e1", "x1", "succeeded"), event("e3", "x2", "failed")]
        );
    }
}

mod runs {
    use serde_json::{json, Value};
    use switchboard_actors::store::{RunSnapshot, SqlRunReports, Store};

    fn report(states: &[&str]) -> Value {
        let sub_flows: Vec<Value> = states
            .iter()
            .enumerate()
            .map(|(i, s)| json!({"sub_flow_id": format!("s{i}"), "status": s}))
            .collect();
        json!({"run_id": "r1", "status": "running", "sub_flows": sub_flows})
    }

    fn states(report: &Value) -> Vec<&str> {
        report["sub_flows"]
            .as_array()
            .expect("sub_flows")
            .iter()
            .map(|s| s["status"].as_str().unwrap_or_default())
            .collect()
    }

    async fn transitions_are_the_owners_and_newer_than_the_report(url: &str) {
        let store = Store::open(url, 2).await.expect("open");
        let runs = SqlRunReports::new(store.clone());
        let snapshot = RunSnapshot {
            run_id: "r1".into(),
            owner: "a".into(),
            settled: false,
            report: report(&["pending", "pending", "pending"]),
        };
        // A lease already passed: the run may be claimed at once.
        runs.create(snapshot, &json!({"sub_flows": []}), 0)
            .await
            .expect("create");
        let written = runs
            .save_transitions(
                "r1",
                "a",
                &[
                    (0, json!({"sub_flow_id": "s0", "status": "succeeded"})),
                    (1, json!({"sub_flow_id": "s1", "status": "running"})),
                ],
            )
            .await
            .expect("write");
        assert!(written, "a owns r1");
        let loaded = runs.load("r1").await.expect("load").expect("r1");
        assert_eq!(states(&loaded.report), ["succeeded", "running", "pending"]);

        // B claims the run: it resumes from the transitions, and A may write no more.
        let claimed = runs.claim_expired("b", i64::MAX, 10).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!(states(&claimed[0].2), ["succeeded", "running", "pending"]);
        let late = runs
            .save_transitions(
                "r1",
                "a",
                &[(2, json!({"sub_flow_id": "s2", "status": "running"}))],
            )
            .await
            .expect("write");
        assert!(!late, "a lost r1 to b");
        let loaded = runs.load("r1").await.expect("load").expect("r1");
        assert_eq!(states(&loaded.report), ["succeeded", "running", "pending"]);
        // Many records in one write: every one or none.
        let many: Vec<(usize, Value)> =
            (0..450).map(|i| (i, json!({"status": "failed"}))).collect();
        assert!(runs
            .save_transitions("r1", "b", &many)
            .await
            .expect("write"));
        let loaded = runs.load("r1").await.expect("load").expect("r1");
        assert_eq!(states(&loaded.report), ["failed", "failed", "failed"]);
        store.close().await;
    }

    async fn settled_runs_beyond_the_kept_are_forgotten_oldest_first(url: &str) {
        let store = Store::open(url, 2).await.expect("open");
        let runs = SqlRunReports::new(store.clone());
        let snapshot = |id: &str, settled: bool| RunSnapshot {
            run_id: id.into(),
            owner: "a".into(),
            settled,
            report: report(&["succeeded"]),
        };
        // Settled in this order (a millisecond apart at least), and one still running.
        for id in ["old", "mid", "new"] {
            runs.create(snapshot(id, false), &json!({"sub_flows": []}), i64::MAX)
                .await
                .expect("create");
            runs.save_transitions(id, "a", &[(0, json!({"status": "succeeded"}))])
                .await
                .expect("write");
            runs.save(snapshot(id, true)).await.expect("settle");
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
        runs.create(
            snapshot("running", false),
            &json!({"sub_flows": []}),
            i64::MAX,
        )
        .await
        .expect("create");

        assert_eq!(runs.forget_settled_beyond(2).await.expect("forget"), 1);
        assert!(runs.load("old").await.expect("load").is_none());
        for id in ["mid", "new", "running"] {
            assert!(runs.load(id).await.expect("load").is_some(), "{id} kept");
        }
        assert_eq!(runs.forget_settled_beyond(2).await.expect("forget"), 0);
        assert_eq!(runs.forget_settled_beyond(0).await.expect("forget"), 2);
        assert!(runs.load("running").await.expect("load").is_some());
        let orphans: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM run_sub_flows WHERE run_id IN ('old', 'mid', 'new')",
        )
        .fetch_one(store.pool())
        .await
        .expect("count");
        assert_eq!(orphans, 0, "their sub-flow records go with them");
        store.close().await;
    }

    on_both_backends!(
        settled_runs_beyond_the_kept_are_forgotten_oldest_first =>
        sqlite_settled_runs_beyond_the_kept_are_forgotten_oldest_first,
        postgres_settled_runs_beyond_the_kept_are_forgotten_oldest_first
    );

    on_both_backends!(
        transitions_are_the_owners_and_newer_than_the_report =>
        sqlite_transitions_are_the_owners_and_newer_than_the_report,
        postgres_transitions_are_the_owners_and_newer_than_the_report
    );
}
