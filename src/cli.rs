//! Command line: `switchboard serve [--config FILE] [--sandbox]` runs the service;
//! `switchboard sandbox [--config FILE]` runs the CXone emulator alone on `sandbox.bind`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use switchboard_actors::deltas::{ConflictResolution, UpdateType};
use switchboard_sandbox::Sandbox;

use crate::config::Settings;
use crate::startup::{Application, BuildOptions};

/// switchboard: NICE CXone Data Actions to Kafka, and more.
#[derive(Debug, Parser)]
#[command(name = "switchboard", version, about)]
pub struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve {
        /// A TOML file layered over the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run the embedded CXone sandbox and point the service at it.
        #[arg(long)]
        sandbox: bool,
    },
    /// Have the sandbox emit events at a running service and print a summary.
    Demo {
        /// The service's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        service: String,
        /// The sandbox's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8090")]
        sandbox: String,
        /// Events to emit.
        #[arg(long, default_value_t = 5000)]
        events: u32,
        /// Webhook requests in flight at once.
        #[arg(long, default_value_t = 64)]
        concurrency: u32,
    },
    /// Data Action definitions.
    Action {
        /// What to do.
        #[command(subcommand)]
        command: ActionCommand,
    },
    /// Delta updates.
    Delta {
        /// What to do.
        #[command(subcommand)]
        command: DeltaCommand,
    },
    /// Orchestration plans.
    Plan {
        /// What to do.
        #[command(subcommand)]
        command: PlanCommand,
    },
    /// Run a plan in-process against the configured CXone and write its report.
    Orchestrate {
        /// The plan, JSON.
        file: PathBuf,
        /// Where to write the report (it is printed too).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A TOML file layered over the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Stream a report's export from a running service to NDJSON (the reference consumer).
    Export(crate::commands::export::ExportArgs),
    /// Print a running service's readiness and its supervised actors (restarts, last restart,
    /// queue) as a table; exit 1 when it is not ready or cannot be reached.
    Status {
        /// The service's base URL.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        service: String,
    },
    /// Print the HTTP API's OpenAPI 3.1 document (pretty JSON; what `GET /openapi.json`
    /// serves).
    Openapi,
    /// Run the CXone sandbox alone.
    Sandbox {
        /// A TOML file layered over the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// `switchboard action …`.
#[derive(Debug, Subcommand)]
pub enum ActionCommand {
    /// Validate a definition (JSON file) and create it through the configured CXone.
    Create {
        /// The definition, JSON.
        file: PathBuf,
        /// Validate and size the header matrix only; send nothing.
        #[arg(long)]
        dry_run: bool,
        /// Correlation id to send (default: a new UUID).
        #[arg(long)]
        correlation_id: Option<String>,
        /// Extra header `NAME:VALUE` (repeatable).
        #[arg(long = "header", value_parser = crate::commands::action::parse_header)]
        headers: Vec<(String, String)>,
        /// A TOML file layered over the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// `switchboard plan …`.
#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Validate a plan (JSON file): exit 0, or 1 with every problem.
    Validate {
        /// The plan.
        file: PathBuf,
        /// A TOML file layered over the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// `switchboard delta …`.
#[derive(Debug, Subcommand)]
pub enum DeltaCommand {
    /// Apply a JSON-lines file of records as a delta set, streaming.
    Apply {
        /// Target data store.
        #[arg(long = "data-store")]
        data_store: String,
        /// Conflict resolution: OVERWRITE, FAIL or IGNORE.
        #[arg(long, value_parser = parse_conflict)]
        conflict: ConflictResolution,
        /// Update type: UPSERT (default) or UPDATE.
        #[arg(long = "update-type", value_parser = parse_update_type, default_value = "UPSERT")]
        update_type: UpdateType,
        /// JSON lines, one record `{"id", "version"?, "fields"}` per line.
        file: PathBuf,
        /// A TOML file layered over the defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn parse_conflict(text: &str) -> Result<ConflictResolution, String> {
    ConflictResolution::parse(&text.to_ascii_uppercase())
        .ok_or_else(|| format!("{text:?} is not OVERWRITE, FAIL or IGNORE"))
}

fn parse_update_type(text: &str) -> Result<UpdateType, String> {
    UpdateType::parse(&text.to_ascii_uppercase())
        .ok_or_else(|| format!("{text:?} is not UPSERT or UPDATE"))
}

/// What a command asks the process to exit with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Success,
    /// Exit 1: the command ran and reported a failure (already printed).
    Failure,
}

impl From<bool> for Outcome {
    /// `true` (the command succeeded) is [`Outcome::Success`], `false` [`Outcome::Failure`].
    fn from(ok: bool) -> Self {
        if ok {
            Outcome::Success
        } else {
            Outcome::Failure
        }
    }
}

/// Runs the parsed command line to completion.
///
/// Errors: configuration, start-up or serving failures, with context naming the key.
pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Action {
            command:
                ActionCommand::Create {
                    file,
                    dry_run,
                    correlation_id,
                    headers,
                    config,
                },
        } => {
            let settings = Settings::load(config.as_deref())?;
            let ok =
                crate::commands::action::create(settings, &file, dry_run, correlation_id, headers)
                    .await?;
            Ok(ok.into())
        }
        Command::Serve { config, sandbox } => {
            let settings = Settings::load(config.as_deref())?;
            let app = Application::build(
                settings,
                BuildOptions {
                    with_sandbox: sandbox,
                },
            )
            .await?;
            let stop = crate::shutdown::on_signals(app.graceful_stop(), app.rules_reload())
                .context("cannot install the SIGTERM, SIGINT and SIGHUP handlers")?;
            actix_rt::spawn(stop);
            app.run_until_stopped()
                .await
                .context("the HTTP server failed")?;
            Ok(Outcome::Success)
        }
        Command::Demo {
            service,
            sandbox,
            events,
            concurrency,
        } => {
            crate::demo::run(crate::demo::DemoOptions {
                service,
                sandbox,
                events,
                concurrency,
            })
            .await?;
            Ok(Outcome::Success)
        }
        Command::Delta {
            command:
                DeltaCommand::Apply {
                    data_store,
                    conflict,
                    update_type,
                    file,
                    config,
                },
        } => {
            let settings = Settings::load(config.as_deref())?;
            let what = crate::commands::delta::DeltaApply {
                data_store_id: data_store,
                conflict,
                update_type,
            };
            let ok = crate::commands::delta::apply(settings, &file, what).await?;
            Ok(ok.into())
        }
        Command::Plan {
            command: PlanCommand::Validate { file, config },
        } => {
            let settings = Settings::load(config.as_deref())?;
            let ok = crate::commands::plan::validate(&settings, &file)?;
            Ok(ok.into())
        }
        Command::Orchestrate { file, out, config } => {
            let settings = Settings::load(config.as_deref())?;
            let ok = crate::commands::plan::orchestrate(settings, &file, out.as_deref()).await?;
            Ok(ok.into())
        }
        Command::Export(args) => match crate::commands::export::run(args).await {
            Ok(_) => Ok(Outcome::Success),
            Err(e) => {
                eprintln!("switchboard export: {e:#}");
                Ok(Outcome::Failure)
            }
        },
        Command::Status { service } => Ok(crate::commands::status::run(&service).await?.into()),
        Command::Openapi => {
            crate::commands::openapi::print();
            Ok(Outcome::Success)
        }
        Command::Sandbox { config } => {
            let settings = Settings::load(config.as_deref())?;
            let sandbox = Sandbox::start(settings.sandbox.options(&settings.cxone))
                .await
                .with_context(|| format!("sandbox.bind: cannot bind {}", settings.sandbox.bind))?;
            log::info!(
                "component=sandbox event=listening url={}",
                sandbox.base_url()
            );
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
            sandbox.stop().await;
            Ok(Outcome::Success)
        }
    }
}
