//! Settings of the in-process service (`Application::build`) the benches start next to an
//! in-process sandbox, and its start.

use std::path::PathBuf;

use anyhow::Context as _;
use switchboard::config::Settings;
use switchboard::startup::{Application, BuildOptions};

/// Creates a temp dir `switchboard-bench-<uuid>` with a `routes.toml` of three rules on fresh
/// topics (`"priority": "high"` → `sbbench-<id>-high` partition 0, `"region": "eu-west"` →
/// `sbbench-<id>-eu` partition 1, everything else → `sbbench-<id>-default` partition 2), and
/// returns it with the default settings pointed at it: server bind `127.0.0.1:0`, `brokers`,
/// that routes file, `audit.jsonl` in the dir, and `sandbox_base` as the CXone base URL.
///
/// Errors: the dir or the file cannot be written, or the default settings do not load.
pub fn service_settings(
    brokers: &str,
    sandbox_base: String,
) -> anyhow::Result<(PathBuf, Settings)> {
    let dir = std::env::temp_dir().join(format!(
        "switchboard-bench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let rules = format!(
        "[[rules]]\npattern = '\"priority\"\\s*:\\s*\"high\"'\ntopic = \"sbbench-{id}-high\"\npartition = 0\n\
         [[rules]]\npattern = '\"region\"\\s*:\\s*\"eu-west\"'\ntopic = \"sbbench-{id}-eu\"\npartition = 1\n\
         [[rules]]\npattern = '.*'\ntopic = \"sbbench-{id}-default\"\npartition = 2\n"
    );
    let rules_file = dir.join("routes.toml");
    std::fs::write(&rules_file, rules).context("writing the rules file")?;
    let mut s = Settings::load(None).context("loading the default settings")?;
    s.server.bind = "127.0.0.1:0".into();
    s.kafka.brokers = vec![brokers.to_string()];
    s.routing.rules_file = rules_file.display().to_string();
    s.audit.path = dir.join("audit.jsonl").display().to_string();
    // BENCH_STATE_URL: another state store (e.g. PostgreSQL) instead of a SQLite file here.
    s.state.url = std::env::var("BENCH_STATE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.join("state.db").display()));
    s.cxone.base_url = sandbox_base;
    Ok((dir, s))
}

/// The in-process service, running: its base URL, a handle to stop it, and its server task.
pub struct RunningApp {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    pub handle: actix_web::dev::ServerHandle,
    pub task: actix_rt::task::JoinHandle<std::io::Result<()>>,
}

/// Builds the service from `settings` (`Application::build`) and runs it on a task of the
/// current actix system.
///
/// Errors: the build fails (`what` is the context, e.g. that a broker must listen).
pub async fn start_app(settings: Settings, what: &'static str) -> anyhow::Result<RunningApp> {
    let app = Application::build(settings, BuildOptions::default())
        .await
        .context(what)?;
    let base = format!("http://127.0.0.1:{}", app.port());
    let handle = app.server_handle();
    let task = actix_rt::spawn(app.run_until_stopped());
    Ok(RunningApp { base, handle, task })
}
