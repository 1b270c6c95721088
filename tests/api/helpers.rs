//! Shared test harness: a sandbox and a service on port 0 per test, a real broker
//! (`SWITCHBOARD_TEST_BROKERS`, started by scripts/test.sh), random topic names per test.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rskafka::client::partition::UnknownTopicHandling;
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::RecordAndOffset;
use serde_json::{json, Value};
use switchboard::config::Settings;
use switchboard::startup::{Application, BuildOptions};
use switchboard::state::Actors;
use switchboard_actors::exports::CheckpointStore as _;
use switchboard_actors::store::{SqlCheckpointStore, Store};
use switchboard_sandbox::{Sandbox, SandboxOptions};

/// `GET /sandbox/state` of the sandbox at `sandbox_url`.
pub async fn sandbox_state(sandbox_url: &str) -> Value {
    awc::Client::new()
        .get(format!("{sandbox_url}/sandbox/state"))
        .send()
        .await
        .expect("state")
        .json::<Value>()
        .limit(16 << 20)
        .await
        .expect("state json")
}

/// Executions the sandbox at `sandbox_url` started, by sub-flow (Data Action) id.
pub async fn executions_by_sub_flow(sandbox_url: &str) -> BTreeMap<String, usize> {
    let state = sandbox_state(sandbox_url).await;
    let mut counts = BTreeMap::new();
    for e in state["executions"].as_array().into_iter().flatten() {
        let id = e["data_action_id"].as_str().unwrap_or_default().to_string();
        *counts.entry(id).or_insert(0) += 1;
    }
    counts
}

/// The broker's binary (nisshi, installed by `scripts/broker.sh`): `$NISSHI_BIN`, else
/// `$CARGO_HOME/bin/nisshi` when it exists, else `nisshi` on the `PATH`.
pub fn broker_bin() -> String {
    std::env::var("NISSHI_BIN").unwrap_or_else(|_| {
        let home = std::env::var("CARGO_HOME")
            .unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap_or_default()));
        let candidate = format!("{home}/bin/nisshi");
        if std::path::Path::new(&candidate).exists() {
            candidate
        } else {
            "nisshi".into()
        }
    })
}

/// A private nisshi broker (the project's) on 127.0.0.1, killed on drop.
pub struct PrivateBroker {
    child: Child,
    /// Its port.
    pub port: u16,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl PrivateBroker {
    /// Starts nisshi in `dir` (its working directory: an empty `.env` is written there) on
    /// `port`, or a free one, with `storage` and more `args`; waits until it listens.
    pub async fn start_in(
        dir: &std::path::Path,
        port: Option<u16>,
        storage: &str,
        args: &[&std::ffi::OsStr],
    ) -> PrivateBroker {
        let port = port.unwrap_or_else(free_port);
        std::fs::write(dir.join(".env"), "").expect(".env");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(broker_bin())
            .current_dir(dir)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", storage])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nisshi starts (run the tests through scripts/test.sh)");
        eventually(
            Duration::from_secs(10),
            "the private broker to listen",
            || async {
                std::net::TcpStream::connect(("127.0.0.1", port))
                    .ok()
                    .map(|_| ())
            },
        )
        .await;
        PrivateBroker {
            child,
            port,
            address: format!("127.0.0.1:{port}"),
        }
    }

    /// In memory, in a new directory, on a free port.
    pub async fn start() -> PrivateBroker {
        PrivateBroker::start_on_port(None).await
    }

    /// In memory (empty), in a new directory, on `port`, or a free one.
    pub async fn start_on_port(port: Option<u16>) -> PrivateBroker {
        PrivateBroker::start_in(&temp_dir(), port, "memory://nisshi/", &[]).await
    }

    /// Kills it.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The broker the tests use.
pub fn brokers() -> String {
    std::env::var("SWITCHBOARD_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Logs to stderr when `TEST_LOG=1`, through the service's logger (client framing errors at
/// DEBUG).
pub fn init_logging() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = switchboard::logging::try_init(env_logger::builder().is_test(true));
    }
}

/// The three topics of a test's rules (seed 004 shape, unique names).
#[derive(Debug, Clone)]
pub struct Topics {
    /// `"priority":"high"` → partition 0.
    pub high: String,
    /// `"region":"eu-west"` → partition 1.
    pub eu: String,
    /// everything else → partition 2.
    pub default: String,
}

/// A running sandbox + service.
pub struct TestApp {
    pub address: String,
    pub sandbox_url: String,
    pub actors: Actors,
    pub topics: Topics,
    pub http: awc::Client,
    pub dir: PathBuf,
    /// The service's state store (a second handle on it).
    pub store: Store,
    /// Kept so the sandbox lives as long as the test.
    pub _sandbox: Sandbox,
}

/// A temporary directory for one test.
pub fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Settings for a test: port 0, unique topics in a rules file, audit in `dir`.
pub fn test_settings(dir: &std::path::Path, topics: &Topics, sandbox_url: &str) -> Settings {
    let rules = format!(
        "[[rules]]\npattern = '\"priority\"\\s*:\\s*\"high\"'\ntopic = \"{}\"\npartition = 0\n\
         [[rules]]\npattern = '\"region\"\\s*:\\s*\"eu-west\"'\ntopic = \"{}\"\npartition = 1\n\
         [[rules]]\npattern = '.*'\ntopic = \"{}\"\npartition = 2\n",
        topics.high, topics.eu, topics.default
    );
    let rules_file = dir.join("routes.toml");
    std::fs::write(&rules_file, rules).expect("rules file");
    let mut s = Settings::load(None).expect("default settings");
    s.server.bind = "127.0.0.1:0".into();
    s.server.workers = 2;
    s.kafka.brokers = vec![brokers()];
    s.routing.rules_file = rules_file.display().to_string();
    s.audit.path = dir.join("audit.jsonl").display().to_string();
    s.state.url = sqlite_state(dir);
    s.cxone.base_url = sandbox_url.to_string();
    s.cxone.requests_per_minute = 60_000;
    s.cxone.burst = 1000;
    s.cxone.backoff_initial_ms = 50;
    s.cxone.backoff_max_ms = 2000;
    s
}

/// Fresh unique topic names.
pub fn unique_topics() -> Topics {
    let id = uuid::Uuid::new_v4().simple().to_string();
    Topics {
        high: format!("sbt-{id}-high"),
        eu: format!("sbt-{id}-eu"),
        default: format!("sbt-{id}-default"),
    }
}

/// Starts a sandbox on port 0 with default options.
pub async fn spawn_sandbox() -> Sandbox {
    Sandbox::start(SandboxOptions {
        bind: "127.0.0.1:0".into(),
        ..SandboxOptions::default()
    })
    .await
    .expect("sandbox starts")
}

/// Spawns a sandbox and a service with default test settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Spawns a sandbox and a service, letting the test adjust the settings first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    init_logging();
    let sandbox = spawn_sandbox().await;
    let dir = temp_dir();
    let topics = unique_topics();
    let mut settings = test_settings(&dir, &topics, &sandbox.base_url());
    adjust(&mut settings);
    let app = Application::build(settings, BuildOptions::default())
        .await
        .expect("application builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let actors = app.actors().clone();
    let store = app.store().clone();
    actix_rt::spawn(app.run_until_stopped());
    TestApp {
        store,
        address,
        sandbox_url: sandbox.base_url(),
        actors,
        topics,
        http: awc::Client::builder()
            .timeout(Duration::from_secs(30))
            .finish(),
        dir,
        _sandbox: sandbox,
    }
}

/// A seed-004 event.
pub fn event(id: &str, payload: Value) -> Value {
    json!({
        "dataActionId": id,
        "eventType": "data_action.executed",
        "timestamp": "2026-11-21T10:00:00.000Z",
        "payload": payload,
    })
}

/// Waits for `check` to return `Some`, polling every 50 ms until `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        actix_rt::time::sleep(Duration::from_millis(50)).await;
    }
}

impl TestApp {
    /// POSTs an event as JSON; returns status and body.
    pub async fn post_event(&self, body: &Value, webhook_id: Option<&str>) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/webhook/cxone/data-actions", self.address))
            .insert_header(("Content-Type", "application/json"));
        if let Some(id) = webhook_id {
            req = req.insert_header(("webhook-id", id));
        }
        status_and_json(req.send_json(body).await.expect("request")).await
    }

    /// POSTs raw bytes with a content type.
    pub async fn post_raw(&self, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}/webhook/cxone/data-actions", self.address))
            .insert_header(("Content-Type", content_type))
            .send_body(body)
            .await
            .expect("request");
        status_and_json(resp).await
    }

    /// GETs a path of the service; returns status and JSON body (Null when not JSON).
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request");
        status_and_json(resp).await
    }

    /// The service's `GET /metrics` text (`None` when it cannot be read).
    pub async fn metrics_text(&self) -> Option<String> {
        let body = self
            .http
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .ok()?
            .body()
            .limit(16 << 20)
            .await
            .ok()?;
        Some(String::from_utf8_lossy(&body).into_owned())
    }

    /// The sandbox's `GET /sandbox/state`.
    pub async fn sandbox_state(&self) -> Value {
        sandbox_state(&self.sandbox_url).await
    }

    /// Sets sandbox faults.
    pub async fn set_faults(&self, faults: Value) -> Value {
        let mut resp = self
            .http
            .post(format!("{}/sandbox/faults", self.sandbox_url))
            .send_json(&faults)
            .await
            .expect("faults");
        assert_eq!(resp.status().as_u16(), 200, "faults accepted");
        resp.json::<Value>().await.expect("faults json")
    }

    /// Has the sandbox emit `count` events at the service.
    pub async fn emit(&self, count: u32, concurrency: u32, secret: Option<&str>) -> Value {
        let mut body = json!({
            "target_url": format!("{}/webhook/cxone/data-actions", self.address),
            "count": count,
            "concurrency": concurrency,
        });
        if let Some(s) = secret {
            body["secret"] = json!(s);
        }
        let mut resp = self
            .http
            .post(format!("{}/sandbox/emit", self.sandbox_url))
            .timeout(Duration::from_secs(120))
            .send_json(&body)
            .await
            .expect("emit");
        assert_eq!(resp.status().as_u16(), 200, "emit accepted");
        resp.json::<Value>()
            .limit(1 << 20)
            .await
            .expect("emit json")
    }

    /// Waits until the sandbox has acknowledged `ids`, each exactly once.
    pub async fn wait_for_acks(&self, ids: &[String], timeout: Duration) -> Value {
        eventually(timeout, "acknowledgements", || async {
            let state = self.sandbox_state().await;
            let acks = &state["acknowledgements"];
            ids.iter()
                .all(|id| acks[id].as_u64() == Some(1))
                .then_some(state)
        })
        .await
    }

    /// Every record of a topic's partition, read back by fetching.
    pub async fn read_partition(
        &self,
        topic: &str,
        partition: i32,
        expected: usize,
    ) -> Vec<RecordAndOffset> {
        read_partition(&brokers(), topic, partition, expected).await
    }
}

/// A webhook answer as the load tests read it.
#[derive(Debug)]
pub struct Answered {
    pub status: u16,
    pub body: Value,
    /// It said `Connection: close`.
    pub connection_close: bool,
    /// It carried `Retry-After`.
    pub retry_after: bool,
}

/// POSTs event `id` with `payload` to the ingestion endpoint of the service at `address`;
/// its answer, or why there was none (the connection failed or dropped, or the body was
/// cut), naming the event.
pub async fn send_event(
    http: &awc::Client,
    address: &str,
    id: &str,
    payload: Value,
) -> Result<Answered, String> {
    let mut resp = http
        .post(format!("{address}/webhook/cxone/data-actions"))
        .insert_header(("Content-Type", "application/json"))
        .send_json(&event(id, payload))
        .await
        .map_err(|e| format!("{id}: no answer: {e}"))?;
    let headers = resp.headers();
    let connection_close = headers
        .get("connection")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    let retry_after = headers.contains_key("retry-after");
    let status = resp.status().as_u16();
    let body = resp
        .json::<Value>()
        .await
        .map_err(|e| format!("{id}: body cut: {e}"))?;
    Ok(Answered {
        status,
        body,
        connection_close,
        retry_after,
    })
}

/// A response's status and JSON body (Null when the body is not JSON).
pub async fn status_and_json<S>(mut resp: awc::ClientResponse<S>) -> (u16, Value)
where
    S: futures::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>> + Unpin,
{
    let status = resp.status().as_u16();
    let body = resp
        .json::<Value>()
        .limit(1 << 20)
        .await
        .unwrap_or(Value::Null);
    (status, body)
}

/// A Kafka client for reading back.
pub async fn kafka_client(brokers: &str) -> Client {
    ClientBuilder::new(vec![brokers.to_string()])
        .build()
        .await
        .expect("kafka client")
}

/// Fetches records from offset 0 until `expected` records were read or the high watermark
/// says there are no more (then waits briefly in case of lag).
pub async fn read_partition(
    brokers: &str,
    topic: &str,
    partition: i32,
    expected: usize,
) -> Vec<RecordAndOffset> {
    let client = kafka_client(brokers).await;
    let pc = client
        .partition_client(topic, partition, UnknownTopicHandling::Error)
        .await
        .expect("partition client");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let next = out.last().map_or(0, |r: &RecordAndOffset| r.offset + 1);
        let (records, high_watermark) = pc
            .fetch_records(next, 1..10_000_000, 200)
            .await
            .expect("fetch");
        out.extend(records);
        let done =
            out.len() >= expected && out.last().map_or(0, |r| r.offset + 1) >= high_watermark;
        if done || Instant::now() > deadline {
            return out;
        }
    }
}

/// Counts lines of a metric with the given label set in `/metrics` text.
pub fn metric_value(text: &str, name: &str, labels: &BTreeMap<&str, &str>) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A test receiver on port 0 that records every JSON body POSTed to it and answers 200.
pub struct Capture {
    /// Its URL (any path is accepted).
    pub url: String,
    bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Capture {
    /// Starts the receiver.
    pub async fn start() -> Capture {
        let bodies: std::sync::Arc<std::sync::Mutex<Vec<Value>>> = Default::default();
        let shared = bodies.clone();
        let server = actix_web::HttpServer::new(move || {
            let shared = shared.clone();
            actix_web::App::new().default_service(actix_web::web::to(
                move |body: actix_web::web::Json<Value>| {
                    let shared = shared.clone();
                    async move {
                        shared.lock().expect("capture lock").push(body.into_inner());
                        actix_web::HttpResponse::Ok().finish()
                    }
                },
            ))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("bind capture");
        let port = server.addrs()[0].port();
        actix_rt::spawn(server.run());
        Capture {
            url: format!("http://127.0.0.1:{port}/events"),
            bodies,
        }
    }

    /// What was received so far.
    pub fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().expect("capture lock").clone()
    }
}

impl TestApp {
    /// POSTs JSON to a service path with optional extra headers.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut req = self.http.post(format!("{}{path}", self.address));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        status_and_json(req.send_json(body).await.expect("request")).await
    }

    /// `Bearer <token>` of a fresh sandbox token for the default client.
    pub async fn sandbox_bearer(&self) -> String {
        let mut resp = self
            .http
            .post(format!("{}/oauth/token", self.sandbox_url))
            .send_form(&[
                ("grant_type", "client_credentials"),
                ("client_id", switchboard_sandbox::DEFAULT_CLIENT_ID),
                ("client_secret", switchboard_sandbox::DEFAULT_CLIENT_SECRET),
            ])
            .await
            .expect("token");
        let token: Value = resp.json().await.expect("token json");
        format!(
            "Bearer {}",
            token["access_token"].as_str().expect("access_token")
        )
    }

    /// Takes every token of the tenant's sandbox bucket by acknowledging throwaway ids,
    /// until the sandbox answers 429.
    pub async fn drain_sandbox_bucket(&self) {
        let bearer = self.sandbox_bearer().await;
        for i in 0..10_000 {
            let resp = self
                .http
                .post(format!(
                    "{}/api/v2/data/actions/drain-{i}/acknowledge",
                    self.sandbox_url
                ))
                .insert_header(("Authorization", bearer.as_str()))
                .send()
                .await
                .expect("drain call");
            if resp.status().as_u16() == 429 {
                return;
            }
        }
        panic!("the sandbox never answered 429");
    }
}

/// What a CLI run printed: exit code, stdout and stderr as JSON (Null when not JSON).
pub type CliOutput = (i32, Value, Value);

/// Runs the `switchboard` binary (off the test's thread) with this app's sandbox as CXone and
/// an audit log in the test's directory, plus `env`.
pub async fn cli(app: &TestApp, args: &[&str], env: &[(&str, &str)]) -> CliOutput {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let mut vars: Vec<(String, String)> = vec![
        (
            "SWITCHBOARD__CXONE__BASE_URL".into(),
            app.sandbox_url.clone(),
        ),
        (
            "SWITCHBOARD__AUDIT__PATH".into(),
            app.dir.join("cli-audit.jsonl").display().to_string(),
        ),
        ("RUST_LOG".into(), "error".into()),
    ];
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    actix_web::rt::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(&args)
            .envs(vars)
            .output()
            .expect("the CLI runs");
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap_or(Value::Null);
        (
            out.status.code().unwrap_or(-1),
            parse(&out.stdout),
            parse(&out.stderr),
        )
    })
    .await
    .expect("the CLI thread")
}

impl TestApp {
    /// POSTs `body` as exactly these bytes to the ingestion endpoint, as JSON, with extra
    /// `headers` (e.g. `webhook-id`, `webhook-timestamp`, `webhook-signature`); returns
    /// status and JSON body.
    pub async fn post_signed(&self, body: &[u8], headers: &[(&str, &str)]) -> (u16, Value) {
        let mut req = self
            .http
            .post(format!("{}/webhook/cxone/data-actions", self.address))
            .insert_header(("Content-Type", "application/json"));
        for (name, value) in headers {
            req = req.insert_header((*name, *value));
        }
        status_and_json(req.send_body(body.to_vec()).await.expect("request")).await
    }

    /// The records of this app's audit log (`audit.jsonl` in its directory), flushed first.
    pub async fn audit_records(&self) -> Vec<Value> {
        let _ = self.actors.audit.send(switchboard_actors::Flush).await;
        std::fs::read_to_string(self.dir.join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

/// The next offset of `job`'s checkpoint in `store`, if it has one.
pub async fn checkpoint_offset(store: &Store, job: &str) -> Option<u64> {
    SqlCheckpointStore::new(store.clone())
        .load(job)
        .await
        .ok()
        .flatten()
        .map(|c| c.next_offset)
}

/// The PostgreSQL server the test command started (`SWITCHBOARD_TEST_POSTGRES_URL`, set by
/// `scripts/test.sh`).
///
/// Panics: the variable is unset — run the tests with `scripts/test.sh`.
pub fn postgres_url() -> String {
    std::env::var("SWITCHBOARD_TEST_POSTGRES_URL").expect(
        "SWITCHBOARD_TEST_POSTGRES_URL is not set: run the tests with scripts/test.sh, which starts PostgreSQL",
    )
}

/// A new, empty database on the test PostgreSQL server; its URL.
pub async fn postgres_database() -> String {
    use sqlx::Connection as _;
    let server = postgres_url();
    let name = format!("sbtest_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .expect("the test PostgreSQL server answers");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let _ = conn.close().await;
    let base = server.rsplit_once('/').map_or(server.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

/// One replica of several started by [`spawn_replicas`].
pub struct Replica {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// Stops its server.
    pub handle: actix_web::dev::ServerHandle,
    /// Its state store.
    pub store: Store,
}

/// Starts `n` services against one sandbox, routing to the same `topics`, each in its own
/// directory, with `adjust` applied to every replica's settings (e.g. one shared
/// `state.url`).
pub async fn spawn_replicas(
    n: usize,
    sandbox_url: &str,
    topics: &Topics,
    adjust: impl Fn(&mut Settings),
) -> Vec<Replica> {
    init_logging();
    let mut replicas = Vec::with_capacity(n);
    for _ in 0..n {
        let dir = temp_dir();
        let mut settings = test_settings(&dir, topics, sandbox_url);
        settings.state.url = sqlite_state(&dir);
        adjust(&mut settings);
        let app = Application::build(settings, BuildOptions::default())
            .await
            .expect("replica builds");
        replicas.push(Replica {
            address: format!("http://127.0.0.1:{}", app.port()),
            handle: app.server_handle(),
            store: app.store().clone(),
        });
        actix_rt::spawn(app.run_until_stopped());
    }
    replicas
}

/// `orchestration.lease_secs` of the services [`start_service`] starts.
pub const LEASE: Duration = Duration::from_secs(2);

/// `switchboard serve` as a child process on a free port; SIGKILLed on drop.
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub address: String,
}

impl Service {
    /// Sends the process `signal` (e.g. `TERM`, `HUP`) with `kill`.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal}");
    }

    /// Sends SIGTERM (a graceful stop) and waits at most 30 s for the process to exit.
    ///
    /// Panics: it is still running then, or its exit code is not 0.
    pub async fn terminate(&mut self) {
        self.signal("TERM");
        let status = self
            .exited(Duration::from_secs(30))
            .await
            .expect("the service exits");
        assert_eq!(status.code(), Some(0), "a graceful stop exits 0");
    }

    /// Waits at most `timeout` for the process to exit; its exit status (`None`: still
    /// running). Polls off the actix thread.
    pub async fn exited(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `state.url` of a SQLite state store in `dir` (`DIR/state.db`).
pub fn sqlite_state(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("state.db").display())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// `switchboard serve` (log `DIR/TAG.log`, audit `DIR/TAG-audit.jsonl`) on a free port, the
/// sandbox, the test broker and `state_url`, with a lease of [`LEASE`], polling after 300 ms
/// and the sandbox's rate limit; more `env` may be added before it is spawned. Returns the
/// command and its port.
pub fn serve_command(
    dir: &std::path::Path,
    sandbox_url: &str,
    tag: &str,
    state_url: &str,
) -> (Command, u16) {
    let port = free_port();
    let log = std::fs::File::create(dir.join(format!("{tag}.log"))).expect("log file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .arg("serve")
        .env("SWITCHBOARD__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env("SWITCHBOARD__CXONE__BASE_URL", sandbox_url)
        .env("SWITCHBOARD__KAFKA__BROKERS", brokers())
        .env("SWITCHBOARD__STATE__URL", state_url)
        // The sandbox's own limit (6 000 a minute) rules, not the default client-side 100.
        .env("SWITCHBOARD__CXONE__REQUESTS_PER_MINUTE", "6000")
        .env("SWITCHBOARD__CXONE__BURST", "20")
        .env(
            "SWITCHBOARD__AUDIT__PATH",
            dir.join(format!("{tag}-audit.jsonl")),
        )
        .env(
            "SWITCHBOARD__ORCHESTRATION__LEASE_SECS",
            LEASE.as_secs().to_string(),
        )
        .env("SWITCHBOARD__ORCHESTRATION__POLL_AFTER_MS", "300")
        .env("SWITCHBOARD__ORCHESTRATION__POLL_INTERVAL_MS", "100")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    (command, port)
}

/// Starts [`serve_command`]'s service; waits until `/healthz` answers.
pub async fn start_service(
    dir: &std::path::Path,
    sandbox_url: &str,
    tag: &str,
    state_url: &str,
) -> Service {
    let (command, port) = serve_command(dir, sandbox_url, tag, state_url);
    spawn_service(command, port).await
}

/// Spawns `command` (from [`serve_command`], serving on `port`); waits until `/healthz`
/// answers.
pub async fn spawn_service(mut command: Command, port: u16) -> Service {
    let child = command.spawn().expect("switchboard serve");
    let address = format!("http://127.0.0.1:{port}");
    let service = Service { child, address };
    let http = awc::Client::new();
    eventually(Duration::from_secs(30), "the service to answer", || async {
        let resp = http
            .get(format!("{}/healthz", service.address))
            .send()
            .await
            .ok()?;
        (resp.status().as_u16() == 200).then_some(())
    })
    .await;
    service
}
