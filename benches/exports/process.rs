//! The sandbox and the service as child processes of the bench, and the broker they need.

use std::fs::File;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};

use crate::common::process::{free_port, ChildGuard};
use crate::common::procfs::{proc_cpu_secs, status_kib};
use crate::common::{block_on, http, BIN};
use crate::{READY_TIMEOUT, UNLIMITED_BURST, UNLIMITED_RPM};

/// A child process (sandbox or service), killed on drop (also when the bench fails).
pub(crate) struct Process {
    pub(crate) child: ChildGuard,
    pub(crate) name: String,
    pub(crate) stderr: PathBuf,
    pub(crate) base_url: String,
}

impl Process {
    /// Starts `BIN args` with `envs` on a free port and waits until `ready_path` answers 200.
    pub(crate) fn start(
        dir: &Path,
        name: &str,
        args: &[&str],
        bind_var: &str,
        envs: &[(&str, String)],
        ready_path: &str,
    ) -> anyhow::Result<Process> {
        let port = free_port()?;
        let stderr = dir.join(format!("{name}.stderr"));
        let work = dir.join(name);
        std::fs::create_dir_all(&work)?;
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(&work)
            .env_remove("CXONE_BASE_URL")
            .env_remove("CXONE_CLIENT_ID")
            .env_remove("CXONE_CLIENT_SECRET")
            .env(bind_var, format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(File::create(&stderr)?);
        for (key, value) in envs {
            command.env(key, value);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {BIN} {}", args.join(" ")))?;
        let mut process = Process {
            child: ChildGuard(child),
            name: name.to_string(),
            stderr,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = process.child.try_wait()? {
                bail!(
                    "{name} exited with {status}: {}",
                    std::fs::read_to_string(&process.stderr).unwrap_or_default()
                );
            }
            if block_on(get_status(&process.base_url, ready_path)) == Some(200) {
                return Ok(process);
            }
            ensure!(
                Instant::now() < deadline,
                "{name} did not answer {ready_path}: {}",
                std::fs::read_to_string(&process.stderr).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds used so far.
    pub(crate) fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.pid()).unwrap_or(f64::NAN)
    }

    /// `VmRSS` and `VmHWM` in KiB.
    pub(crate) fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()));
        let status = status.unwrap_or_default();
        (
            status_kib(&status, "VmRSS:").unwrap_or(0),
            status_kib(&status, "VmHWM:").unwrap_or(0),
        )
    }

    /// Fails naming the process when it has exited.
    pub(crate) fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited with {status}: {}",
                self.name,
                std::fs::read_to_string(&self.stderr).unwrap_or_default()
            );
        }
        Ok(())
    }
}

/// The status of `GET base + path`, `None` when nothing answers.
pub(crate) async fn get_status(base: &str, path: &str) -> Option<u16> {
    let resp = http().get(format!("{base}{path}")).send().await.ok()?;
    Some(resp.status().as_u16())
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

/// Starts the service against `sandbox`, its audit log under `dir/tag`, its checkpoints in
/// `checkpoints`.
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
            "SWITCHBOARD__EXPORT__CHECKPOINT_DIR",
            checkpoints.display().to_string(),
        ),
        (
            "SWITCHBOARD__AUDIT__PATH",
            state.join("audit.jsonl").display().to_string(),
        ),
    ];
    Process::start(
        dir,
        tag,
        &["serve"],
        "SWITCHBOARD__SERVER__BIND",
        &envs,
        "/readyz",
    )
}
