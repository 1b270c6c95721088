//! One round of the bench: every variant once, each measured in wall clock and CPU.

use std::time::Instant;

use futures::future::join_all;

use crate::common::http;
use crate::common::procfs::proc_cpu_secs;
use crate::common::sandbox::bearer;
use crate::config::BenchConfig;
use crate::pager::{page_report, Moved};
use crate::process::Process;
use crate::stream::{run_stream, Spec};
use crate::{ACK_WINDOW, REPORT, SMALL_REPORT};

/// One measured run of a variant.
#[derive(Debug, Clone, Default)]
pub(crate) struct Run {
    pub(crate) moved: Moved,
    pub(crate) secs: f64,
    /// CPU seconds of the service, the sandbox and this process during the run.
    pub(crate) cpu: [f64; 3],
    /// Export job ids of the streams.
    pub(crate) jobs: Vec<String>,
}

impl Run {
    pub(crate) fn rate(&self) -> f64 {
        self.moved.records as f64 / self.secs.max(1e-9)
    }
}

/// Measures `fut` (wall clock and CPU of the three processes).
pub(crate) async fn measured<F>(service: &Process, sandbox: &Process, fut: F) -> anyhow::Result<Run>
where
    F: std::future::Future<Output = anyhow::Result<(Moved, Vec<String>)>>,
{
    let cpu = |s: &Process, b: &Process| {
        [
            s.cpu_secs(),
            b.cpu_secs(),
            proc_cpu_secs("self").unwrap_or(f64::NAN),
        ]
    };
    let before = cpu(service, sandbox);
    let started = Instant::now();
    let (moved, jobs) = fut.await?;
    let secs = started.elapsed().as_secs_f64();
    let after = cpu(service, sandbox);
    Ok(Run {
        moved,
        secs,
        cpu: [
            after[0] - before[0],
            after[1] - before[1],
            after[2] - before[2],
        ],
        jobs,
    })
}

/// The variants, in the order each round runs them.
pub(crate) const VARIANTS: [&str; 9] = [
    "ceiling",
    "stream none ack 0",
    "stream none ack 8",
    "stream gzip ack 0",
    "stream gzip ack 8",
    "ceiling ×N",
    "N streams none ack 8",
    "diagnostic: stream none ack 0, client skips verify",
    "diagnostic: stream none ack 8, checkpoints on tmpfs",
];
/// Index of the first concurrent variant in [`VARIANTS`].
pub(crate) const CONCURRENT: usize = 5;
/// Index of the first diagnostic variant in [`VARIANTS`].
pub(crate) const DIAGNOSTIC: usize = 7;
/// Index of the tmpfs-checkpoint diagnostic variant in [`VARIANTS`].
pub(crate) const TMPFS_VARIANT: usize = 8;

/// One round: every variant once. Returns the runs (in [`VARIANTS`] order) and one page body.
pub(crate) async fn round(
    cfg: &BenchConfig,
    service: &Process,
    sandbox: &Process,
    tmpfs_service: &Process,
) -> anyhow::Result<(Vec<Run>, Vec<u8>)> {
    let (svc, sbx) = (service.base_url.as_str(), sandbox.base_url.as_str());
    let client = http();
    let token = bearer(&client, sbx).await?;
    let mut page = Vec::new();
    let mut runs = Vec::with_capacity(VARIANTS.len());
    runs.push(
        measured(service, sandbox, async {
            let (moved, first) =
                page_report(&client, sbx, &token, REPORT, cfg.records, cfg.chunk).await?;
            page = first;
            Ok((moved, Vec::new()))
        })
        .await?,
    );
    let one = Spec {
        report: REPORT,
        expected: cfg.records,
        chunk: cfg.chunk,
        compression: "none",
        ack_window: 0,
        verify: true,
    };
    for (compression, ack_window) in [
        ("none", 0),
        ("none", ACK_WINDOW),
        ("gzip", 0),
        ("gzip", ACK_WINDOW),
    ] {
        let spec = Spec {
            compression,
            ack_window,
            ..one
        };
        runs.push(
            measured(service, sandbox, async {
                let (moved, job) = run_stream(svc, spec).await?;
                Ok((moved, vec![job]))
            })
            .await?,
        );
    }
    let small = cfg.small();
    runs.push(
        measured(service, sandbox, async {
            let clients: Vec<awc::Client> = (0..cfg.streams).map(|_| http()).collect();
            let pagers = clients
                .iter()
                .map(|c| page_report(c, sbx, &token, SMALL_REPORT, small, cfg.chunk));
            let mut total = Moved::default();
            for result in join_all(pagers).await {
                total.add(&result?.0);
            }
            Ok((total, Vec::new()))
        })
        .await?,
    );
    runs.push(
        measured(service, sandbox, async {
            let spec = Spec {
                report: SMALL_REPORT,
                expected: small,
                ack_window: ACK_WINDOW,
                ..one
            };
            let streams = (0..cfg.streams).map(|_| run_stream(svc, spec));
            let (mut total, mut jobs) = (Moved::default(), Vec::new());
            for result in join_all(streams).await {
                let (moved, job) = result?;
                total.add(&moved);
                jobs.push(job);
            }
            Ok((total, jobs))
        })
        .await?,
    );
    runs.push(
        measured(service, sandbox, async {
            let spec = Spec {
                verify: false,
                ..one
            };
            let (moved, job) = run_stream(svc, spec).await?;
            Ok((moved, vec![job]))
        })
        .await?,
    );
    runs.push(
        measured(tmpfs_service, sandbox, async {
            let spec = Spec {
                ack_window: ACK_WINDOW,
                ..one
            };
            let (moved, job) = run_stream(&tmpfs_service.base_url, spec).await?;
            Ok((moved, vec![job]))
        })
        .await?,
    );
    Ok((runs, page))
}
