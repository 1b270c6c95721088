//! Logging: `env_logger` (filter from `RUST_LOG`, default `info`) behind [`ClientFraming`], a
//! `log::Log` wrapper that moves actix-http's reports of a client's own framing errors down to
//! DEBUG. actix-http logs every connection that ends in a bad request head (an invalid
//! `Content-Length`, a head too large), a reset or broken pipe, or a body the handler refused
//! before reading it, as `stream error: …` at ERROR (`actix_http::h1::dispatcher`, via
//! `tracing`'s `log` records), so any client could fill the error log. The client already got
//! its answer (400, 413, 431) or is gone; nothing is wrong with the service.

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

use log::{Level, LevelFilter, Log, Metadata, Record};
use serde_json::{Map, Value};

/// `log.format`: how log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `[TIME LEVEL target] message`, as `env_logger` writes it.
    #[default]
    Text,
    /// One JSON object per line: `ts`, `level`, `target`, `msg`, and the message's
    /// `key=value` fields as typed top-level members (see [`json_line`]).
    Json,
}

/// Whether lines are written as JSON (`log.format = "json"`).
static JSON: AtomicBool = AtomicBool::new(false);

/// Switches every later line to `format` (the settings are read after the logger is
/// installed; `SWITCHBOARD__LOG__FORMAT=json` applies from the first line).
pub fn set_format(format: LogFormat) {
    JSON.store(format == LogFormat::Json, Ordering::Relaxed);
}

/// The members no message field may take.
const RESERVED: [&str; 4] = ["ts", "level", "target", "msg"];

/// The `key=value` fields of a message, in order: a key (`[a-z_][a-z0-9_]*`) starts the
/// message or follows a space; its value runs to the next key, and the last one to a
/// `"; "` (the prose after the fields). A value is an integer, a float or a boolean when it
/// reads as one, else a string (surrounding double quotes removed).
pub fn message_fields(message: &str) -> Vec<(&str, Value)> {
    let bytes = message.as_bytes();
    let key_at = |i: usize| -> Option<usize> {
        if i > 0 && bytes[i - 1] != b' ' {
            return None;
        }
        let first = *bytes.get(i)?;
        if !(first.is_ascii_lowercase() || first == b'_') {
            return None;
        }
        let mut j = i + 1;
        while j < bytes.len()
            && (bytes[j].is_ascii_lowercase() || bytes[j].is_ascii_digit() || bytes[j] == b'_')
        {
            j += 1;
        }
        (bytes.get(j) == Some(&b'=')).then_some(j)
    };
    let starts: Vec<(usize, usize)> = (0..bytes.len())
        .filter_map(|i| key_at(i).map(|eq| (i, eq)))
        .collect();
    let mut fields = Vec::with_capacity(starts.len());
    for (n, &(start, eq)) in starts.iter().enumerate() {
        let end = starts.get(n + 1).map_or(message.len(), |&(next, _)| next);
        let mut value = message[eq + 1..end].trim_end();
        if n + 1 == starts.len() {
            if let Some(cut) = value.find("; ") {
                value = &value[..cut];
            }
        }
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        fields.push((&message[start..eq], typed(value)));
    }
    fields
}

fn typed(value: &str) -> Value {
    if let Ok(i) = value.parse::<i64>() {
        return Value::from(i);
    }
    if value.contains('.') {
        if let Some(f) = value.parse::<f64>().ok().filter(|f| f.is_finite()) {
            return Value::from(f);
        }
    }
    match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(value.to_string()),
    }
}

/// One JSON log line (without its newline): `ts` (RFC 3339, milliseconds, UTC), `level`,
/// `target`, `msg` (the whole message), then the message's fields ([`message_fields`]).
pub fn json_line(ts: &str, level: Level, target: &str, message: &str) -> String {
    let mut object = Map::new();
    object.insert("ts".into(), Value::from(ts));
    object.insert("level".into(), Value::from(level.as_str()));
    object.insert("target".into(), Value::from(target));
    object.insert("msg".into(), Value::from(message));
    for (key, value) in message_fields(message) {
        if !RESERVED.contains(&key) && !object.contains_key(key) {
            object.insert(key.to_string(), value);
        }
    }
    Value::Object(object).to_string()
}

/// actix-http's log lines about a client's framing, as `(target, message start)` (actix-http
/// 3.x, `h1/dispatcher.rs` and `h2/dispatcher.rs`; `stream error: {DispatchError}` with the
/// error's display). Lines from these targets that do not start so — a response body that
/// failed, an internal error — keep their level.
pub const CLIENT_FRAMING: [(&str, &str); 7] = [
    // Bad `Content-Length`/`Transfer-Encoding`, invalid header or method, head too large.
    (H1, "stream error: request parse error"),
    // Connection reset, broken pipe.
    (H1, "stream error: I/O error"),
    (
        H1,
        "stream error: request did not complete within the specified timeout",
    ),
    (H1, "stream error: connection shutdown timeout"),
    // A body refused (413) before it was read.
    (
        H1,
        "stream error: handler dropped payload before reading EOF",
    ),
    // The client stopped reading.
    (H1, "write zero"),
    // An HTTP/2 client reset its stream.
    ("actix_http::h2::dispatcher", "Send data error"),
];

const H1: &str = "actix_http::h1::dispatcher";

/// Whether a record of `target` whose message starts with `message` reports a client's
/// framing error (see [`CLIENT_FRAMING`]).
pub fn is_client_framing(target: &str, message: &str) -> bool {
    CLIENT_FRAMING
        .iter()
        .any(|(t, start)| *t == target && message.starts_with(start))
}

/// A `log::Log` that passes every record to `inner`, except that actix-http's reports of a
/// client's framing errors ([`CLIENT_FRAMING`]) are passed at DEBUG, and only when `inner` is
/// enabled for DEBUG on their target.
#[derive(Debug)]
pub struct ClientFraming<L> {
    inner: L,
}

impl<L: Log> ClientFraming<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        ClientFraming { inner }
    }

    /// The record's message, when it comes from a target of [`CLIENT_FRAMING`] at a level
    /// above DEBUG (only those are formatted).
    fn framing_message(record: &Record<'_>) -> Option<String> {
        if record.level() >= Level::Debug
            || !CLIENT_FRAMING.iter().any(|(t, _)| *t == record.target())
        {
            return None;
        }
        let message = match record.args().as_str() {
            Some(text) => text.to_string(),
            None => record.args().to_string(),
        };
        is_client_framing(record.target(), &message).then_some(message)
    }
}

impl<L: Log> Log for ClientFraming<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let Some(message) = Self::framing_message(record) else {
            if self.inner.enabled(record.metadata()) {
                self.inner.log(record);
            }
            return;
        };
        let metadata = Metadata::builder()
            .level(Level::Debug)
            .target(record.target())
            .build();
        if !self.inner.enabled(&metadata) {
            return;
        }
        self.inner.log(
            &Record::builder()
                .metadata(metadata)
                .args(format_args!("{message}"))
                .module_path(record.module_path())
                .file(record.file())
                .line(record.line())
                .build(),
        );
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

/// Installs `builder`'s logger behind [`ClientFraming`] as the global logger, with the
/// builder's filter as the global maximum level.
///
/// Errors: a global logger is already installed.
pub fn try_init(builder: &mut env_logger::Builder) -> Result<(), log::SetLoggerError> {
    let inner = builder.build();
    let max: LevelFilter = inner.filter();
    log::set_boxed_logger(Box::new(ClientFraming::new(inner)))?;
    log::set_max_level(max);
    Ok(())
}

/// The service's logger, not yet installed: `env_logger` filtered by `RUST_LOG` (default
/// `info`), writing text lines, or JSON lines once [`set_format`] says so (from the start with
/// `SWITCHBOARD__LOG__FORMAT=json`), to stderr unless its target is changed.
pub fn builder() -> env_logger::Builder {
    if std::env::var("SWITCHBOARD__LOG__FORMAT").is_ok_and(|f| f.trim() == "json") {
        set_format(LogFormat::Json);
    }
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.format(|buf, record| {
        if JSON.load(Ordering::Relaxed) {
            let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let message = record.args().to_string();
            let line = json_line(&ts, record.level(), record.target(), &message);
            return writeln!(buf, "{line}");
        }
        writeln!(
            buf,
            "[{} {:<5} {}] {}",
            buf.timestamp(),
            record.level(),
            record.target(),
            record.args()
        )
    });
    builder
}

/// Installs the service's logger ([`builder`]) behind [`ClientFraming`]. A second call
/// changes nothing (the first logger stays).
pub fn init() {
    if try_init(&mut builder()).is_err() {
        log::debug!("component=logging event=already_installed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::error::{DispatchError, ParseError};
    use std::sync::{Arc, Mutex};

    /// Keeps `(level, target, message)` of what it is given; enabled from `min` up, for
    /// targets starting with `prefix`.
    #[derive(Clone)]
    struct Capture {
        min: Level,
        prefix: &'static str,
        records: Arc<Mutex<Vec<(Level, String, String)>>>,
    }

    impl Capture {
        fn new(min: Level) -> Self {
            Capture {
                min,
                prefix: "",
                records: Arc::default(),
            }
        }

        fn only(self, prefix: &'static str) -> Self {
            Capture { prefix, ..self }
        }

        fn taken(&self) -> Vec<(Level, String, String)> {
            std::mem::take(&mut *self.records.lock().expect("capture"))
        }
    }

    impl Log for Capture {
        fn enabled(&self, metadata: &Metadata<'_>) -> bool {
            metadata.level() <= self.min && metadata.target().starts_with(self.prefix)
        }

        fn log(&self, record: &Record<'_>) {
            self.records.lock().expect("capture").push((
                record.level(),
                record.target().to_string(),
                record.args().to_string(),
            ));
        }

        fn flush(&self) {}
    }

    fn log_at(logger: &impl Log, level: Level, target: &str, args: std::fmt::Arguments<'_>) {
        logger.log(
            &Record::builder()
                .level(level)
                .target(target)
                .args(args)
                .line(Some(1))
                .build(),
        );
    }

    #[test]
    fn client_framing_errors_are_passed_at_debug_only_when_debug_is_on() {
        // What actix-http 3 logs, built from its own error type as it does.
        let parse = DispatchError::Parse(ParseError::Header);
        let capture = Capture::new(Level::Debug);
        let logger = ClientFraming::new(capture.clone());
        log_at(
            &logger,
            Level::Error,
            H1,
            format_args!("stream error: {}", &parse),
        );
        log_at(
            &logger,
            Level::Error,
            H1,
            format_args!("write zero; closing"),
        );
        log_at(
            &logger,
            Level::Warn,
            "actix_http::h2::dispatcher",
            format_args!("Send data error: {:?}", "reset"),
        );
        let records = capture.taken();
        assert_eq!(records.len(), 3, "{records:?}");
        assert!(records.iter().all(|(level, _, _)| *level == Level::Debug));
        assert_eq!(
            records[0],
            (
                Level::Debug,
                H1.to_string(),
                "stream error: request parse error: invalid Header provided".to_string()
            )
        );

        let quiet = Capture::new(Level::Info);
        let logger = ClientFraming::new(quiet.clone());
        log_at(
            &logger,
            Level::Error,
            H1,
            format_args!("stream error: {}", &parse),
        );
        let io = DispatchError::Io(std::io::ErrorKind::BrokenPipe.into());
        log_at(
            &logger,
            Level::Error,
            H1,
            format_args!("stream error: {}", &io),
        );
        assert_eq!(quiet.taken(), vec![]);
    }

    #[test]
    fn other_records_keep_their_level() {
        let capture = Capture::new(Level::Info);
        let logger = ClientFraming::new(capture.clone());
        let internal = DispatchError::InternalError;
        log_at(
            &logger,
            Level::Error,
            H1,
            format_args!("stream error: {}", &internal),
        );
        log_at(
            &logger,
            Level::Error,
            "switchboard::startup",
            format_args!("stream error: request parse error"),
        );
        log_at(&logger, Level::Info, "switchboard", format_args!("started"));
        log_at(&logger, Level::Debug, "switchboard", format_args!("hidden"));
        let records = capture.taken();
        let levels: Vec<Level> = records.iter().map(|r| r.0).collect();
        assert_eq!(levels, vec![Level::Error, Level::Error, Level::Info]);
        assert_eq!(records[0].2, "stream error: internal error");
    }

    /// The real thing: actix-web serving, a client sending an invalid `Content-Length`,
    /// actix-http logging through `tracing`'s `log` records into the global logger (the only
    /// one of these unit tests; it keeps only actix-http's records).
    #[actix_rt::test]
    async fn a_bad_content_length_from_a_real_client_is_logged_at_debug_not_error() {
        static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
        let capture = CAPTURE.get_or_init(|| {
            let capture = Capture::new(Level::Debug).only("actix_http");
            log::set_boxed_logger(Box::new(ClientFraming::new(capture.clone())))
                .expect("no other global logger in the unit tests");
            log::set_max_level(LevelFilter::Info);
            capture
        });
        let server = actix_web::HttpServer::new(|| {
            actix_web::App::new().default_service(actix_web::web::to(|| async { "ok" }))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .expect("binds");
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        actix_rt::spawn(server);

        let answer = actix_web::rt::task::spawn_blocking(move || {
            use std::io::{Read as _, Write as _};
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
            stream
                .set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .expect("timeout");
            stream
                .write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}")
                .expect("writes");
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            String::from_utf8_lossy(&answer).into_owned()
        })
        .await
        .expect("the client thread");
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut seen = Vec::new();
        loop {
            seen.extend(capture.taken());
            if seen
                .iter()
                .any(|(_, _, m)| m.contains("request parse error"))
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "actix-http never reported the parse error: {seen:?}"
            );
            actix_rt::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let parse_errors: Vec<_> = seen
            .iter()
            .filter(|(_, _, m)| m.contains("request parse error"))
            .collect();
        assert!(
            parse_errors
                .iter()
                .all(|(level, target, _)| *level == Level::Debug && target == H1),
            "{parse_errors:?}"
        );
        handle.stop(false).await;
    }

    #[test]
    fn the_table_matches_target_and_message_start() {
        assert!(is_client_framing(
            H1,
            "stream error: I/O error: Broken pipe (os error 32)"
        ));
        assert!(is_client_framing(
            H1,
            "stream error: handler dropped payload before reading EOF"
        ));
        assert!(!is_client_framing(H1, "stream error: body error: boom"));
        assert!(!is_client_framing("actix_http::h1::decoder", "write zero"));
    }

    #[test]
    fn message_fields_are_typed_and_the_last_one_stops_at_its_prose() {
        let fields = message_fields(
            "actor=KafkaRouterActor event=restarted restarts=1 ratio=0.5 ok=true reason=\"a b\" error=kafka: x y; then prose",
        );
        let expect: Vec<(&str, Value)> = vec![
            ("actor", Value::from("KafkaRouterActor")),
            ("event", Value::from("restarted")),
            ("restarts", Value::from(1)),
            ("ratio", Value::from(0.5)),
            ("ok", Value::Bool(true)),
            ("reason", Value::from("a b")),
            ("error", Value::from("kafka: x y")),
        ];
        assert_eq!(fields, expect);
        assert!(message_fields("Establishing a connection").is_empty());
        assert_eq!(message_fields("a=b").len(), 1);
        assert!(message_fields("path/a=b").is_empty(), "a key starts a word");
    }

    #[test]
    fn a_json_line_is_one_object_with_the_fields_as_members() {
        let line = json_line(
            "2026-12-06T23:00:00.000Z",
            Level::Warn,
            "switchboard_actors::lifecycle",
            "actor=TokenActor event=restarted restarts=2 msg=not-taken",
        );
        let v: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["ts"], "2026-12-06T23:00:00.000Z");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "switchboard_actors::lifecycle");
        assert_eq!(v["actor"], "TokenActor");
        assert_eq!(v["restarts"], 2);
        assert_eq!(
            v["msg"], "actor=TokenActor event=restarted restarts=2 msg=not-taken",
            "a field never replaces a reserved member"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn a_restart_line_carries_its_count_and_cause() {
        // The line `Lifecycle::restarted` writes.
        let line = json_line(
            "2026-12-06T23:00:00.000Z",
            Level::Warn,
            "switchboard_actors::lifecycle",
            "actor=AcknowledgementActor event=restarted restarts=1 cause=\"stopped on request (StopActor)\"",
        );
        let v: Value = serde_json::from_str(&line).expect("JSON");
        assert_eq!(v["event"], "restarted");
        assert_eq!(v["restarts"], 1);
        assert_eq!(v["cause"], "stopped on request (StopActor)");
    }
}
