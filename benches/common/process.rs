//! Child processes of a bench: a guard that kills them on drop, a free port to bind them to,
//! and a server process started on such a port and waited for until it answers.

use std::fs::File;
use std::net::TcpListener;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};

use crate::common::procfs::{proc_cpu_secs, status_kib};
use crate::common::{block_on, http};

/// A child process, killed and reaped on drop (also when the bench fails or panics).
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Deref for ChildGuard {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for ChildGuard {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// A port on `127.0.0.1` nothing listens on right now (the OS picks it; released at once).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// How [`Process::start`] waits for a started process to answer.
#[derive(Clone, Copy)]
pub struct Ready<'a> {
    /// Path probed with `GET` until it answers 200.
    pub path: &'a str,
    /// Longest wait.
    pub timeout: Duration,
    /// Time between probes.
    pub interval: Duration,
}

/// A server child process (the sandbox, the service), killed on drop (also when the bench
/// fails or panics).
pub struct Process {
    pub child: ChildGuard,
    /// Named in errors.
    pub name: String,
    /// The file its stderr goes to.
    pub stderr: PathBuf,
    /// `http://127.0.0.1:<port>`.
    pub base_url: String,
}

impl Process {
    /// Spawns `command` with `bind_var` = `127.0.0.1:<free port>` and `RUST_LOG=warn`, stdout
    /// discarded and stderr written to `stderr`, then waits until `GET <base><ready.path>`
    /// answers 200.
    ///
    /// Errors: the spawn fails, the process exits before it answers, or it does not answer
    /// within `ready.timeout` (both with its stderr).
    pub fn start(
        mut command: Command,
        name: &str,
        bind_var: &str,
        stderr: PathBuf,
        ready: Ready<'_>,
    ) -> anyhow::Result<Process> {
        let port = free_port()?;
        command
            .env(bind_var, format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(File::create(&stderr)?);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {name}: {command:?}"))?;
        let mut process = Process {
            child: ChildGuard(child),
            name: name.to_string(),
            stderr,
            base_url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + ready.timeout;
        loop {
            process.ensure_running()?;
            if block_on(get_status(&process.base_url, ready.path)) == Some(200) {
                return Ok(process);
            }
            ensure!(
                Instant::now() < deadline,
                "{name} did not answer {}: {}",
                ready.path,
                process.stderr_text()
            );
            std::thread::sleep(ready.interval);
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU seconds used so far.
    pub fn cpu_secs(&self) -> f64 {
        proc_cpu_secs(self.pid()).unwrap_or(f64::NAN)
    }

    /// `VmRSS` and `VmHWM` in KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()));
        let status = status.unwrap_or_default();
        (
            status_kib(&status, "VmRSS:").unwrap_or(0),
            status_kib(&status, "VmHWM:").unwrap_or(0),
        )
    }

    /// Fails naming the process (with its stderr) when it has exited.
    pub fn ensure_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited with {status}: {}", self.name, self.stderr_text());
        }
        Ok(())
    }

    /// What it has written to stderr so far (empty when unreadable).
    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

/// The status of `GET base + path`, `None` when nothing answers.
pub async fn get_status(base: &str, path: &str) -> Option<u16> {
    let resp = http().get(format!("{base}{path}")).send().await.ok()?;
    Some(resp.status().as_u16())
}
