//! Baseline C, the lean pipeline: the least work that turns a webhook into a
//! broker-acknowledged record, with the service's own parts where they decide the cost of
//! the record itself, and none of its guarantees.
//!
//! Each HTTP worker (`BENCH_WORKERS`, as for the other servers) reads the body with the
//! service's one-pass event reader ([`parse_event`], default limits), matches the same rules, builds the same record
//! ([`event_record`]) and queues it in its own per-partition queues with the same limits
//! ([`BatchLimits::of`] the same settings) and the same decision ([`PartitionQueue::next`]);
//! batches leave through rskafka partition clients opened the service's way
//! ([`KafkaConnection`]), one connection per worker opened on the worker's thread, so not
//! even the produce responses cross a thread. The request is answered with the broker's
//! offset, as the service answers.
//!
//! Left out, on purpose: the dedupe window, acknowledgements, the router actor and its
//! messages (records never leave the worker's thread before the produce request), the
//! queue's capacity, sweeps, metrics and signature checks.
//! The gap between this row and ingestion is what those cost; this row against the HTTP
//! ceiling is what routing to this broker costs on this machine whatever the service does.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use anyhow::Context as _;
use rskafka::client::partition::Compression;
use rskafka::record::Record;
use switchboard::routes::event::{parse_event, EventLimits};
use switchboard_actors::router::batch::{BatchLimits, Next, PartitionQueue, Pending};
use switchboard_actors::router::{event_record, KafkaConnection, Route, RuleSet};
use switchboard_actors::settings::KafkaSettings;
use tokio::sync::oneshot;

use crate::common::service::service_settings;
use crate::config::BenchConfig;
use crate::load::ServedTarget;
use crate::{PRODUCE_TIMEOUT, WEBHOOK_PATH};

/// Where a record's offset (or the failure's text) goes.
type Waiter = oneshot::Sender<Result<i64, String>>;

/// One HTTP worker's pipeline: everything on the worker's thread.
struct Lean {
    /// This worker's own broker connection, opened by its first request, so that produce
    /// responses are read on this thread too.
    kafka: tokio::sync::OnceCell<KafkaConnection>,
    settings: Arc<KafkaSettings>,
    rules: Arc<RuleSet>,
    limits: BatchLimits,
    /// The event limits of the service's settings.
    event_limits: EventLimits,
    queues: RefCell<HashMap<Route, PartitionQueue<Record, Waiter>>>,
}

/// Sends what `route`'s queue allows now, or arms its linger timer (the router's pump).
fn pump(lean: &Rc<Lean>, route: &Route) {
    loop {
        let mut queues = lean.queues.borrow_mut();
        let Some(queue) = queues.get_mut(route) else {
            return;
        };
        match queue.next(&lean.limits, Instant::now()) {
            Next::Idle => return,
            Next::WaitFor(delay) => {
                if !queue.linger_armed {
                    queue.linger_armed = true;
                    let (lean, route) = (lean.clone(), route.clone());
                    actix_rt::spawn(async move {
                        actix_rt::time::sleep(delay).await;
                        if let Some(q) = lean.queues.borrow_mut().get_mut(&route) {
                            q.linger_armed = false;
                        }
                        pump(&lean, &route);
                    });
                }
                return;
            }
            Next::Send => {
                let batch = queue.take_batch(&lean.limits);
                queue.in_flight += 1;
                drop(queues);
                actix_rt::spawn(produce(lean.clone(), route.clone(), batch));
            }
        }
    }
}

/// Produces one batch and answers its requests, then pumps the partition again.
async fn produce(lean: Rc<Lean>, route: Route, batch: Vec<Pending<Record, Waiter>>) {
    let (records, waiters): (Vec<Record>, Vec<Waiter>) =
        batch.into_iter().map(|p| (p.record, p.waiter)).unzip();
    let connection = lean
        .kafka
        .get_or_try_init(|| KafkaConnection::connect(&lean.settings, &lean.rules, None))
        .await;
    let result = match connection.map(|k| k.partition(&route)) {
        Ok(Some(client)) => match tokio::time::timeout(
            PRODUCE_TIMEOUT,
            client.produce(records, Compression::NoCompression),
        )
        .await
        {
            Ok(Ok(offsets)) => Ok(offsets),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("produce timed out".to_string()),
        },
        Ok(None) => Err("no partition client".to_string()),
        Err(e) => Err(e.to_string()),
    };
    if let Some(q) = lean.queues.borrow_mut().get_mut(&route) {
        q.in_flight -= 1;
    }
    match result {
        Ok(offsets) => {
            for (waiter, offset) in waiters.into_iter().zip(offsets) {
                let _ = waiter.send(Ok(offset));
            }
        }
        Err(e) => {
            for waiter in waiters {
                let _ = waiter.send(Err(e.clone()));
            }
        }
    }
    pump(&lean, &route);
}

/// `POST /webhook/cxone/data-actions`: 200 with the record's place once the broker has it.
async fn ingest(req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let Some(lean) = req.app_data::<Rc<Lean>>().cloned() else {
        return HttpResponse::InternalServerError().finish();
    };
    let Ok(event) = parse_event(&body, lean.event_limits) else {
        return HttpResponse::BadRequest().finish();
    };
    let Some(route) = lean.rules.route(&event.compact).cloned() else {
        return HttpResponse::UnprocessableEntity().finish();
    };
    let (record, size) = event_record(
        event.data_action_id,
        event.event_type,
        event.timestamp,
        event.compact,
    );
    let (tx, rx) = oneshot::channel();
    lean.queues
        .borrow_mut()
        .entry(route.clone())
        .or_default()
        .push(Pending {
            record,
            size,
            accepted: Instant::now(),
            waiter: tx,
        });
    pump(&lean, &route);
    match rx.await {
        Ok(Ok(offset)) => HttpResponse::Ok().json(serde_json::json!({
            "status": "routed",
            "topic": &*route.topic,
            "partition": route.partition,
            "offset": offset,
        })),
        _ => HttpResponse::ServiceUnavailable().finish(),
    }
}

/// Baseline C: connects (fresh `sbbench-*` topics, the service's routes and batching
/// settings) and binds the lean pipeline's server to a free port, running until
/// [`ServedTarget::stop`].
///
/// Errors: the broker is unreachable, or the server cannot bind.
pub(crate) async fn lean_pipeline(cfg: &BenchConfig) -> anyhow::Result<ServedTarget> {
    let (dir, mut s) = service_settings(&cfg.brokers, String::new())?;
    cfg.apply_batching(&mut s.kafka);
    let rules = Arc::new(s.rules()?);
    // Creates the topics and checks the partitions; each worker opens its own connection.
    KafkaConnection::connect(&s.kafka, &rules, None)
        .await
        .context("lean pipeline: connecting to the broker")?;
    let limits = BatchLimits::of(&s.kafka);
    let event_limits = EventLimits::of(&s.routing);
    let settings = Arc::new(s.kafka.clone());
    let server = HttpServer::new(move || {
        let lean = Rc::new(Lean {
            kafka: tokio::sync::OnceCell::new(),
            settings: settings.clone(),
            rules: rules.clone(),
            limits,
            event_limits,
            queues: RefCell::new(HashMap::new()),
        });
        App::new()
            .app_data(lean)
            .route(WEBHOOK_PATH, web::post().to(ingest))
    })
    .workers(cfg.workers)
    .disable_signals()
    .bind(("127.0.0.1", 0))
    .context("binding the lean pipeline's server")?;
    ServedTarget::run(
        "lean pipeline (C)",
        &server.addrs(),
        server.run(),
        Some(dir),
    )
}
