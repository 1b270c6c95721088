//! The state store's errors and backends, apart from the store so that what stores data
//! through it (checkpoints, runs, the dedupe window) can name them without importing it.

use std::sync::Arc;

/// Which database a [`Store`](super::Store) is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, derive_more::Display)]
pub enum Backend {
    /// SQLite: a file; one replica.
    #[display("sqlite")]
    Sqlite,
    /// PostgreSQL: shared by several replicas.
    #[display("postgres")]
    Postgres,
}

/// Why the state store failed. Its text never holds the URL's password.
#[derive(Debug, Clone, derive_more::Display, derive_more::Error)]
pub enum StoreError {
    /// `state.url` names no backend this build has, or a SQLite URL has no file path.
    #[display("state.url: must be sqlite://PATH or postgres://USER[:PASSWORD]@HOST[:PORT]/DB")]
    Scheme,
    /// The SQLite file's directory cannot be created.
    #[display("state.url: cannot create the directory {path}")]
    Directory {
        /// The directory.
        #[error(not(source))]
        path: String,
        /// Why.
        source: Arc<std::io::Error>,
    },
    /// The database refused or failed (connection, migration, query); sqlx's error, shown
    /// as it shows it.
    #[display("state store ({backend}): {error}")]
    Database {
        /// The backend.
        #[error(not(source))]
        backend: Backend,
        /// sqlx's error.
        #[error(not(source))]
        error: Arc<sqlx::Error>,
    },
    /// The call was stopped before it answered: the process is stopping.
    #[display("state store: the call was interrupted (the service is stopping)")]
    Interrupted,
    /// A stored row cannot be read back (a value out of range, or JSON that does not parse).
    #[display("state store: a stored {what} is unreadable: {message}")]
    Corrupt {
        /// What was being read.
        #[error(not(source))]
        what: &'static str,
        /// What is wrong.
        #[error(not(source))]
        message: String,
    },
}
