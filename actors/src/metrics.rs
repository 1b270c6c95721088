//! Prometheus metrics of the actors, registered once in a process-wide registry that
//! `GET /metrics` renders in the text exposition format.

use std::sync::LazyLock;

use prometheus::core::Collector;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Every metric switchboard exports.
pub struct Metrics {
    /// The registry holding them all.
    pub registry: Registry,
    /// Webhook events by `outcome`: routed, duplicate, dead_lettered, rejected, unavailable.
    pub events: IntCounterVec,
    /// `events{outcome}` children, resolved once for the hot path, in [`EventOutcome`]'s
    /// order (read through [`Metrics::event`]).
    event_outcomes: [IntCounter; 5],
    /// `produce_seconds{outcome="ok"}` and `{outcome="failed"}`, resolved once (read through
    /// [`Metrics::produce`]).
    produce_outcomes: [Histogram; 2],
    /// Records acknowledged by the broker, by `topic` and `partition`.
    pub routed: IntCounterVec,
    /// Events produced to the dead-letter topic, by `reason` (the machine code, e.g.
    /// `no_route`).
    pub dead_lettered: IntCounterVec,
    /// Webhook events answered 503, by `reason` (the answer's machine code, e.g.
    /// `broker_timeout`, `queue_full`).
    pub unavailable: IntCounterVec,
    /// Records per produce request.
    pub batch_records: Histogram,
    /// Events per message from an HTTP worker to the router (`RouteEvents`).
    pub intake_events: Histogram,
    /// Seconds of one produce request, from sending it to the broker's answer (the rest of
    /// `produce_seconds` is the record's wait in its partition's queue).
    pub produce_request_seconds: Histogram,
    /// Seconds from accepting a record to the broker's acknowledgement, by `outcome`.
    pub produce_seconds: HistogramVec,
    /// Records accepted by the router and not yet answered.
    pub router_queue: IntGauge,
    /// Seconds of one claim of the shared dedupe window (`routing.dedupe = "shared"`), from
    /// sending it to the store's verdict.
    pub dedupe_claim_seconds: Histogram,
    /// Keys per claim of the shared dedupe window.
    pub dedupe_claim_keys: Histogram,
    /// Acknowledgements to CXone by `outcome`: acknowledged, already_acknowledged, failed,
    /// requeued, dropped.
    pub acks: IntCounterVec,
    /// Acknowledgements waiting to be sent.
    pub ack_queue: IntGauge,
    /// Actor restarts by `actor`.
    pub actor_restarts: IntCounterVec,
    /// CXone API calls by `operation` and `outcome` (HTTP status, `request` when the request
    /// could not be built, or `transport`).
    pub cxone_calls: IntCounterVec,
    /// OAuth2 tokens obtained.
    pub tokens: IntCounter,
    /// Delta batches by `status` (applied, conflict, integrity_error, failed).
    pub delta_batches: IntCounterVec,
    /// Delta records by `outcome` (applied, skipped).
    pub delta_records: IntCounterVec,
    /// Seconds per delta batch PATCH, retries included.
    pub delta_batch_seconds: Histogram,
    /// Export chunks sent.
    pub export_chunks: IntCounter,
    /// Export records sent.
    pub export_records: IntCounter,
    /// Export payload bytes sent (after compression).
    pub export_bytes: IntCounter,
    /// Export streams in progress.
    pub export_streams: IntGauge,
    /// The routing rules in force: 1 for their `version` (the first 12 hex digits of the
    /// rules file's SHA-256), the only series.
    pub rules_info: IntGaugeVec,
    /// Rules reloads (SIGHUP) by `outcome`: applied, unchanged, failed.
    pub rules_reloads: IntCounterVec,
}

/// How the ingestion endpoint answered an event: the `outcome` label of `events`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    /// 200 `routed`: the broker acknowledged the record.
    Routed,
    /// 200 `duplicate`: seen within the dedupe window.
    Duplicate,
    /// 200 `dead_lettered`: on the dead-letter topic (`routing.dead_letter_topic`).
    DeadLettered,
    /// Refused for the request itself (4xx): bad input, bad signature, no route.
    Rejected,
    /// 503: the broker or the router could not take it now.
    Unavailable,
}

impl EventOutcome {
    /// Every outcome, in the order of the resolved counters.
    pub const ALL: [EventOutcome; 5] = [
        EventOutcome::Routed,
        EventOutcome::Duplicate,
        EventOutcome::DeadLettered,
        EventOutcome::Rejected,
        EventOutcome::Unavailable,
    ];

    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            EventOutcome::Routed => "routed",
            EventOutcome::Duplicate => "duplicate",
            EventOutcome::DeadLettered => "dead_lettered",
            EventOutcome::Rejected => "rejected",
            EventOutcome::Unavailable => "unavailable",
        }
    }
}

impl Metrics {
    /// Shows `version` as the rules in force (`rules_info`, one series).
    pub fn rules_in_force(&self, version: &str) {
        self.rules_info.reset();
        self.rules_info.with_label_values(&[version]).set(1);
    }

    /// The `events{outcome}` counter of `outcome`.
    pub fn event(&self, outcome: EventOutcome) -> &IntCounter {
        &self.event_outcomes[outcome as usize]
    }

    /// The `produce_seconds` histogram of a produce that succeeded (`ok`) or not (`failed`).
    pub fn produce(&self, succeeded: bool) -> &Histogram {
        &self.produce_outcomes[usize::from(!succeeded)]
    }
}

fn histogram(name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid histogram")
}

/// Registers `metric` with `registry` (a name registered twice is kept once) and returns it.
fn registered<T: Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    let _ = registry.register(Box::new(metric.clone()));
    metric
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let counter_vec = |name: &str, help: &str, labels: &[&str]| {
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter")
    };
    let events = counter_vec(
        "switchboard_events_total",
        "Webhook events by outcome.",
        &["outcome"],
    );
    let produce_seconds = HistogramVec::new(
        HistogramOpts::new(
            "switchboard_produce_seconds",
            "Seconds from accepting a record to the broker's answer.",
        )
        .buckets(vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
        ]),
        &["outcome"],
    )
    .expect("valid histogram");
    let registry = Registry::new();
    Metrics {
        event_outcomes: EventOutcome::ALL.map(|o| events.with_label_values(&[o.label()])),
        produce_outcomes: ["ok", "failed"].map(|o| produce_seconds.with_label_values(&[o])),
        events: registered(&registry, events),
        produce_seconds: registered(&registry, produce_seconds),
        unavailable: registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "switchboard_unavailable_total",
                    "Webhook events answered 503, by reason (the answer's machine code).",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        ),
        rules_info: registered(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "switchboard_rules_info",
                    "The routing rules in force: 1 for their version (a hash of the rules file).",
                ),
                &["version"],
            )
            .expect("valid metric"),
        ),
        rules_reloads: registered(
            &registry,
            counter_vec(
                "switchboard_rules_reloads_total",
                "Rules reloads (SIGHUP) by outcome: applied, unchanged, failed.",
                &["outcome"],
            ),
        ),
        dead_lettered: registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "switchboard_dead_lettered_total",
                    "Events produced to the dead-letter topic, by reason.",
                ),
                &["reason"],
            )
            .expect("valid metric"),
        ),
        routed: registered(
            &registry,
            counter_vec(
                "switchboard_routed_records_total",
                "Records acknowledged by the broker.",
                &["topic", "partition"],
            ),
        ),
        batch_records: registered(
            &registry,
            histogram(
                "switchboard_produce_batch_records",
                "Records per produce request.",
                vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0],
            ),
        ),
        intake_events: registered(
            &registry,
            histogram(
                "switchboard_router_intake_events",
                "Events per message from an HTTP worker to the router.",
                vec![1.0, 2.0, 4.0, 8.0, 16.0],
            ),
        ),
        produce_request_seconds: registered(
            &registry,
            histogram(
                "switchboard_produce_request_seconds",
                "Seconds of one produce request, from sending it to the broker's answer.",
                vec![
                    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
                ],
            ),
        ),
        dedupe_claim_seconds: registered(
            &registry,
            histogram(
                "switchboard_dedupe_claim_seconds",
                "Seconds of one claim of the shared dedupe window, from sending it to the store's verdict.",
                vec![
                    0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0,
                ],
            ),
        ),
        dedupe_claim_keys: registered(
            &registry,
            histogram(
                "switchboard_dedupe_claim_keys",
                "Keys per claim of the shared dedupe window.",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
            ),
        ),
        router_queue: registered(
            &registry,
            IntGauge::new(
                "switchboard_router_queue_records",
                "Records accepted by the router and not yet answered.",
            )
            .expect("valid gauge"),
        ),
        acks: registered(
            &registry,
            counter_vec(
                "switchboard_acknowledgements_total",
                "Acknowledgements to CXone by outcome.",
                &["outcome"],
            ),
        ),
        ack_queue: registered(
            &registry,
            IntGauge::new(
                "switchboard_ack_queue_depth",
                "Acknowledgements waiting to be sent.",
            )
            .expect("valid gauge"),
        ),
        actor_restarts: registered(
            &registry,
            counter_vec(
                "switchboard_actor_restarts_total",
                "Actor restarts by actor.",
                &["actor"],
            ),
        ),
        cxone_calls: registered(
            &registry,
            counter_vec(
                "switchboard_cxone_calls_total",
                "CXone API calls by operation and outcome.",
                &["operation", "outcome"],
            ),
        ),
        tokens: registered(
            &registry,
            IntCounter::new(
                "switchboard_tokens_obtained_total",
                "OAuth2 tokens obtained.",
            )
            .expect("valid counter"),
        ),
        delta_batches: registered(
            &registry,
            counter_vec(
                "switchboard_delta_batches_total",
                "Delta batches by status.",
                &["status"],
            ),
        ),
        delta_records: registered(
            &registry,
            counter_vec(
                "switchboard_delta_records_total",
                "Delta records by outcome.",
                &["outcome"],
            ),
        ),
        delta_batch_seconds: registered(
            &registry,
            histogram(
                "switchboard_delta_batch_seconds",
                "Seconds per delta batch, retries included.",
                vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0],
            ),
        ),
        export_chunks: registered(
            &registry,
            IntCounter::new("switchboard_export_chunks_total", "Export chunks sent.")
                .expect("valid counter"),
        ),
        export_records: registered(
            &registry,
            IntCounter::new("switchboard_export_records_total", "Export records sent.")
                .expect("valid counter"),
        ),
        export_bytes: registered(
            &registry,
            IntCounter::new(
                "switchboard_export_bytes_total",
                "Export payload bytes sent, after compression.",
            )
            .expect("valid counter"),
        ),
        export_streams: registered(
            &registry,
            IntGauge::new("switchboard_export_streams", "Export streams in progress.")
                .expect("valid gauge"),
        ),
        registry,
    }
});

/// Renders every metric in the Prometheus text exposition format.
pub fn render() -> String {
    let mut out = String::new();
    let families = METRICS.registry.gather();
    if let Err(e) = prometheus::TextEncoder::new().encode_utf8(&families, &mut out) {
        log::error!("event=metrics_encode_failed error={e}");
    }
    out
}
