//! The sandbox and the service as child processes of the bench, and the broker they need.

use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{ensure, Context as _};

pub(crate) use crate::common::process::Process;
use crate::common::process::Ready;
use crate::common::BIN;
use crate::{READY_INTERVAL, READY_TIMEOUT, UNLIMITED_BURST, UNLIMITED_RPM};

/// Starts `BIN args` with `envs` (the CXONE_* credentials of the environment removed) in
/// `dir/name`, its stderr in `dir/name.stderr`, on a free port bound through `bind_var`, and
/// waits until `ready_path` answers 200.
pub(crate) fn start_process(
    dir: &Path,
    name: &str,
    args: &[&str],
    bind_var: &str,
    envs: &[(&str, String)],
    ready_path: &str,
) -> anyhow::Result<Process> {
    let work = dir.join(name);
    std::fs::create_dir_all(&work)?;
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(&work)
        .env_remove("CXONE_BASE_URL")
        .env_remove("CXONE_CLIENT_ID")
        .env_remove("CXONE_CLIENT_SECRET");
    for (key, value) in envs {
        command.env(key, value);
    }
    let ready = Ready {
        path: ready_path,
        timeout: READY_TIMEOUT,
        interval: READY_INTERVAL,
    };
    Process::start(
        command,
        name,
        bind_var,
        dir.join(format!("{name}.stderr")),
        ready,
    )
}

/// Makes sure a broker listens at `brokers` (the first address); starts one with
/// `scripts/broker.sh` when the default address is free.
pub(crate) fn ensure_broker(brokers: &str) -> anyhow::Result<()> {
    let first = brokers.split(',').next().unwrap_or(brokers).trim();
    let listening = |a: &str| {
        a.to_socket_addrs()
            .ok()
            .and_then(|mut it| it.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok())
    };
    if listening(first) {
        return Ok(());
    }
    ensure!(
        first == "127.0.0.1:9092",
        "no broker listens on {first} (SWITCHBOARD_BENCH_BROKERS)"
    );
    println!("no broker on {first}: starting one with scripts/broker.sh start 9092 (left running)");
    let status = Command::new("scripts/broker.sh")
        .args(["start", "9092"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .context("cannot run scripts/broker.sh")?;
    ensure!(status.success(), "scripts/broker.sh start 9092: {status}");
    ensure!(listening(first), "the broker does not listen on {first}");
    Ok(())
}

/// Starts the service against `sandbox`, its audit log under `dir/tag`, its checkpoints in a
/// SQLite state store in `checkpoints` — or, when `BENCH_STATE_URL` is set (e.g. a
/// PostgreSQL URL), in that store.
pub(crate) fn start_service(
    dir: &Path,
    tag: &str,
    sandbox: &Process,
    brokers: &str,
    checkpoints: &Path,
) -> anyhow::Result<Process> {
    let state = dir.join(tag);
    let envs = [
        ("SWITCHBOARD__CXONE__BASE_URL", sandbox.base_url.clone()),
        (
            "SWITCHBOARD__CXONE__REQUESTS_PER_MINUTE",
            UNLIMITED_RPM.to_string(),
        ),
        ("SWITCHBOARD__CXONE__BURST", UNLIMITED_BURST.to_string()),
        ("SWITCHBOARD__KAFKA__BROKERS", brokers.to_string()),
        (
            "SWITCHBOARD__STATE__URL",
            std::env::var("BENCH_STATE_URL")
                .unwrap_or_else(|_| format!("sqlite://{}", checkpoints.join("state.db").display())),
        ),
        (
            "SWITCHBOARD__AUDIT__PATH",
            state.join("audit.jsonl").display().to_string(),
        ),
    ];
    start_process(
        dir,
        tag,
        &["serve"],
        "SWITCHBOARD__SERVER__BIND",
        &envs,
        "/readyz",
    )
}
