//! The state store: what must outlive a process and be shared by every replica, in one
//! schema on one of two backends (sqlx), chosen by `state.url`:
//!
//! - `sqlite://PATH` — the embedded default: a file (its directory is created when missing),
//!   in WAL mode with `synchronous = NORMAL` (commits survive a crash of the process, and
//!   cost no fsync each); one replica;
//! - `postgres://USER[:PASSWORD]@HOST:PORT/DB` — PostgreSQL, shared by several replicas.
//!
//! The schema is versioned by the migrations under `actors/migrations/` (compiled in), applied
//! at start-up by [`Store::open`]: an empty database gets every one, a current one none. They
//! are written in the SQL both backends accept, so one set serves both.
//!
//! What lives here so far: export checkpoints ([`SqlCheckpointStore`]), orchestration run
//! reports ([`SqlRunReports`]), completion events no sub-flow here waited for
//! ([`SqlCompletions`]) and, with `routing.dedupe = "shared"`, the dedupe window
//! ([`SharedDedupe`]).

mod checkpoints;
pub mod completions;
pub mod dedupe;
pub mod error;
pub mod runs;
pub mod writer;

use std::sync::Arc;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::migrate::Migrator;
use sqlx::AnyPool;

pub use error::Backend;

pub use checkpoints::SqlCheckpointStore;
pub use completions::{SqlCompletions, StoredCompletion};
pub use dedupe::{Claim, SharedDedupe};
pub use error::StoreError;
pub use runs::{RunSnapshot, SqlRunReports};

/// The schema's migrations, compiled in.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// A `state.url` read: its backend, the URL sqlx is given (a SQLite file is created when
/// missing: `mode=rwc`), and the SQLite file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl {
    /// The backend.
    pub backend: Backend,
    /// The URL to connect to.
    pub url: String,
    /// The SQLite file (`None` for PostgreSQL).
    pub sqlite_file: Option<std::path::PathBuf>,
}

impl StoreUrl {
    /// Reads `sqlite://PATH[?…]` or `postgres://…` (`postgresql://…`).
    ///
    /// Errors: [`StoreError::Scheme`] for another scheme or a SQLite URL without a path.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        if let Some(rest) = url.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let file = path.split('?').next().unwrap_or_default();
            if file.trim_start_matches('/').is_empty() {
                return Err(StoreError::Scheme);
            }
            let mode = if path.contains("mode=") {
                ""
            } else if path.contains('?') {
                "&mode=rwc"
            } else {
                "?mode=rwc"
            };
            return Ok(StoreUrl {
                backend: Backend::Sqlite,
                url: format!("sqlite://{path}{mode}"),
                sqlite_file: Some(file.into()),
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(StoreUrl {
                backend: Backend::Postgres,
                url: url.to_string(),
                sqlite_file: None,
            });
        }
        Err(StoreError::Scheme)
    }
}

/// The state store: a pool on one backend, migrated. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The URL connected to (it may hold a password: never shown).
    url: Arc<str>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// How a pool's connections are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PoolKind {
    /// Each connection is checked with a round trip when taken from the pool (sqlx's
    /// `test_before_acquire`), and every commit waits for its WAL to be flushed.
    Checked,
    /// See [`Store::lean`]: no check, and on PostgreSQL `synchronous_commit = off`.
    Lean,
}

/// A pool of at most `max_connections` (at least 1) connections to `url` (a [`StoreUrl`]'s);
/// SQLite connections are switched to WAL.
async fn connect(
    url: &str,
    backend: Backend,
    max_connections: u32,
    kind: PoolKind,
) -> Result<AnyPool, sqlx::Error> {
    let sqlite = backend == Backend::Sqlite;
    let lean_postgres = kind == PoolKind::Lean && backend == Backend::Postgres;
    AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(std::time::Duration::from_secs(10))
        .test_before_acquire(kind == PoolKind::Checked)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if lean_postgres {
                    sqlx::Executor::execute(&mut *conn, "SET synchronous_commit = off").await?;
                }
                if sqlite {
                    // In WAL mode a commit is durable across a crash of the process
                    // without an fsync of its own (only a crash of the machine may lose
                    // the last commits), and readers do not wait for the writer. The
                    // first connection switches the file to WAL; it stays so.
                    sqlx::Executor::execute(
                        &mut *conn,
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL",
                    )
                    .await?;
                }
                Ok(())
            })
        })
        .connect(url)
        .await
}

impl Store {
    /// Opens the store at `url` with at most `max_connections` connections (at least 1),
    /// creating a SQLite file (and its directory) when missing, and applies the migrations
    /// not yet applied.
    ///
    /// Errors: [`StoreError::Scheme`], [`StoreError::Directory`], or
    /// [`StoreError::Database`] when the database cannot be reached or migrated.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let target = StoreUrl::parse(url)?;
        if let Some(dir) = target
            .sqlite_file
            .as_deref()
            .and_then(std::path::Path::parent)
        {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| StoreError::Directory {
                    path: dir.display().to_string(),
                    source: Arc::new(e),
                })?;
            }
        }
        let (backend, url) = (target.backend, target.url);
        let db = |e| StoreError::Database {
            backend,
            error: Arc::new(e),
        };
        let pool = connect(&url, backend, max_connections, PoolKind::Checked)
            .await
            .map_err(db)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| db(sqlx::Error::Migrate(Box::new(e))))?;
        log::info!(
            "component=state event=opened backend={backend} migrations={}",
            MIGRATOR.iter().count()
        );
        Ok(Store {
            pool,
            backend,
            url: url.into(),
        })
    }

    /// A second pool of at most `max_connections` on the same database for a hot path whose
    /// state may lose its last writes to a crash of the database without harm (the shared
    /// dedupe window: a lost write can only let a redelivery through as a duplicate):
    /// - its connections are not checked with a round trip each time they are taken from
    ///   the pool (the default pool's are), so the path retries a statement on a lost
    ///   connection itself ([`is_connection_lost`]): one round trip per statement, not two;
    /// - on PostgreSQL its commits do not wait for their WAL to reach the disk
    ///   (`synchronous_commit = off`): a commit is still atomic and seen by every
    ///   connection at once, but a crash of PostgreSQL (not of the service) may lose the
    ///   commits of its last ~0.6 s (three times `wal_writer_delay`). That saves the claim on
    ///   the ingest path a WAL flush (an fsync on a durable server).
    ///
    /// Errors: [`StoreError::Database`] when the database cannot be reached.
    pub async fn lean(&self, max_connections: u32) -> Result<Store, StoreError> {
        let pool = connect(&self.url, self.backend, max_connections, PoolKind::Lean)
            .await
            .map_err(|e| self.error(e))?;
        Ok(Store {
            pool,
            backend: self.backend,
            url: self.url.clone(),
        })
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// The versions of the migrations applied, in order.
    ///
    /// Errors: [`StoreError::Database`].
    pub async fn applied_migrations(&self) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<AnyRow> =
            sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.error(e))?;
        use sqlx::Row as _;
        rows.iter()
            .map(|r| r.try_get::<i64, _>(0).map_err(|e| self.error(e)))
            .collect()
    }

    /// `e` as a [`StoreError::Database`] of this store's backend.
    fn error(&self, e: sqlx::Error) -> StoreError {
        StoreError::Database {
            backend: self.backend,
            error: Arc::new(e),
        }
    }

    /// Closes the pool (waits for connections in use to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Whether `e` says the connection was lost (closed by the server, or the socket broken)
/// rather than that the statement failed: an I/O error, or a PostgreSQL error of SQLSTATE
/// class 08 (connection exception) or 57 (operator intervention: the server shuts down or
/// restarts, or an administrator ended the connection). A statement that can be repeated
/// without harm may then be tried once more on another connection.
pub fn is_connection_lost(e: &StoreError) -> bool {
    let StoreError::Database { error, .. } = e else {
        return false;
    };
    match &**error {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57")),
        _ => false,
    }
}

/// Runs `statement`, and once more when the connection was lost under it
/// ([`is_connection_lost`]: the server restarted, or ended the connection): what a user of
/// a [`Store::lean`] pool, whose connections are not checked before each use, runs its
/// statements through. Only for statements that may be repeated without harm.
pub(crate) async fn once_more_if_lost<T, F, Fut>(mut statement: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, StoreError>>,
{
    match statement().await {
        Err(e) if is_connection_lost(&e) => {
            log::info!(
                "component=state event=connection_lost error={e}; the statement runs once more"
            );
            statement().await
        }
        other => other,
    }
}

/// Runs `work` as a Tokio task of its own and awaits it; every store call goes through here.
///
/// A query holds a pooled connection, which sqlx must hand back on the Tokio runtime; an
/// actor's futures are dropped outside the runtime's context when the process stops (actix
/// drops its local tasks first), so a query must never be one of them. Detached, a query
/// whose caller went away completes on its own, or is dropped with the runtime.
///
/// Errors: `work`'s, or [`StoreError::Interrupted`] when the runtime stopped it.
pub(crate) async fn detached<T, F>(work: F) -> Result<T, StoreError>
where
    F: std::future::Future<Output = Result<T, StoreError>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(work)
        .await
        .map_err(|_| StoreError::Interrupted)?
}

/// Rows a periodic cleanup deletes per statement: a cleanup of many rows is many short
/// transactions, so it holds no lock (and, on PostgreSQL, writes no WAL burst) for long, and
/// replicas cleaning up at once take turns rather than wait on one large delete.
pub const CLEANUP_BATCH: i64 = 5_000;

/// Runs `sql`, a `DELETE` whose `$1` is a time (ms since the epoch, bound to `before`) and
/// `$2` a row limit (bound to `batch`), until a run deletes fewer than `batch` rows; how many
/// rows in all.
///
/// Errors: [`StoreError::Database`]; the batches deleted before it stay deleted.
pub(crate) async fn delete_in_batches(
    store: &Store,
    sql: &str,
    before: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let done = sqlx::query(sql)
            .bind(before)
            .bind(batch)
            .execute(store.pool())
            .await
            .map_err(|e| store.error(e))?;
        total += done.rows_affected();
        if i64::try_from(done.rows_affected()).unwrap_or(i64::MAX) < batch {
            return Ok(total);
        }
    }
}

/// `$first, $first+1, …` for `n` bind parameters (an `IN (…)` list or a `VALUES` row).
pub(crate) fn placeholders(first: usize, n: usize) -> String {
    (first..first + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `d` in milliseconds, as the store keeps times (saturating).
pub(crate) fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
