//! Baton's durable state behind one seam: a trait per feature — [`RunStore`] (workflow
//! versions, runs and leases, steps, attempts, out-of-line outputs, approvals),
//! [`AutomationStore`] (schedules, slots, trigger cool-downs, events) and [`StateStore`]
//! (time entries, memories) — each implemented by a backend, and [`Store`], the handle every
//! consumer holds, which dispatches each method to the backend it was opened on.
//!
//! [`WorkerStore`] (the store's clock, claiming ready runs, the workers registry) serves
//! several Baton processes sharing one database.
//!
//! Two backends: SQLite (`sqlite/`, an embedded WAL file, [`Store::open`]) and PostgreSQL
//! (`postgres/`, a connection pool, [`Store::connect_postgres`]), where every lease decision
//! uses the database's clock so that machines with skewed clocks cannot steal leases, and
//! `LISTEN`/`NOTIFY` wakes idle workers ([`Store::work_signal`]). No backend type (sqlx, a
//! pool, a row) appears in a public signature; backend-specific phrases (transactions and
//! their locking, row ids) stay in the backend. [`Store::copy_into`] moves every record from
//! one store to another (SQLite to PostgreSQL). The store's tests are written against
//! [`Store`] (`tests.rs`) and run on both backends; the `testing` module (feature `testing`) gives
//! other crates' tests the same fixture.

#![forbid(unsafe_code)]

/// Declares a feature's trait from one list of methods, and [`Store`]'s inherent methods
/// of the same names that dispatch to the backend it was opened on (so consumers need no
/// trait in scope).
macro_rules! feature {
    (
        $(#[$trait_doc:meta])*
        $trait:ident {
            $(
                $(#[$doc:meta])*
                fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
            )*
        }
    ) => {
        $(#[$trait_doc])*
        pub trait $trait: Send + Sync {
            $(
                $(#[$doc])*
                fn $name(&self $(, $arg: $ty)*) -> impl std::future::Future<Output = $ret> + Send;
            )*
        }

        impl crate::Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.backend {
                        crate::Backend::Sqlite(store) => $trait::$name(store $(, $arg)*).await,
                        crate::Backend::Postgres(store) => $trait::$name(store $(, $arg)*).await,
                    }
                }
            )*
        }
    };
}

mod audit;
mod automation;
mod copy;
mod learned;
mod oauth;
mod postgres;
mod runs;
mod shared;
mod sqlite;
mod state;
mod tasks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod types;
mod url;
mod workers;

pub use audit::*;
pub use automation::*;
pub use copy::CopyReport;
pub use learned::{LearnedStats, LearnedStore, MAX_SAMPLES};
pub use oauth::{OAuthRow, OAuthStore};
pub use runs::RunStore;
pub use state::*;
pub use tasks::{ANY_REQUEST, TaskInput, TaskRecord, TaskStore};
pub use types::*;
pub use url::mask_url;
pub use workers::*;

use std::path::Path;

/// The store every consumer holds: cheap to clone, one backend behind it.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
}

/// The backends a [`Store`] can be opened on.
#[derive(Clone, Debug)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens (creating it and its folder if needed) the SQLite database at `path` and
    /// applies the migrations. Outputs larger than `inline_limit` bytes of JSON are kept
    /// out of line.
    pub async fn open(path: &Path, inline_limit: usize) -> Result<Store> {
        let store = sqlite::SqliteStore::open(path, inline_limit).await?;
        Ok(Store {
            backend: Backend::Sqlite(store),
        })
    }

    /// Connects to the PostgreSQL database at `url` (`postgres://user:password@host/db`)
    /// and applies the migrations (under an advisory lock: processes starting together take
    /// turns). The errors name the URL with its password masked and say what to do.
    pub async fn connect_postgres(url: &str, inline_limit: usize) -> Result<Store> {
        let store = postgres::PgStore::connect(url, inline_limit).await?;
        Ok(Store {
            backend: Backend::Postgres(store),
        })
    }

    /// The database file, for SQLite; `None` for PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(store) => Some(store.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// Where the data lives, to show: the SQLite file, or the URL with its password masked.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Sqlite(store) => store.path().display().to_string(),
            Backend::Postgres(store) => store.location().to_owned(),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// The data's size in bytes as known without asking the database: the SQLite file (with
    /// its WAL); 0 for PostgreSQL (see [`Store::database_size`]).
    pub fn size_bytes(&self) -> u64 {
        match &self.backend {
            Backend::Sqlite(store) => store.size_bytes(),
            Backend::Postgres(_) => 0,
        }
    }

    /// The data's size in bytes: the SQLite file, or `pg_database_size` of the database.
    pub async fn database_size(&self) -> Result<u64> {
        match &self.backend {
            Backend::Sqlite(store) => Ok(store.size_bytes()),
            Backend::Postgres(store) => store.database_size().await,
        }
    }

    /// The schema version applied to the database, and the latest this binary knows.
    pub async fn schema_version(&self) -> Result<(i64, i64)> {
        match &self.backend {
            Backend::Sqlite(store) => store.schema_version().await,
            Backend::Postgres(store) => store.schema_version().await,
        }
    }

    /// A counter that moves when work may have appeared for an idle worker: a run created,
    /// released or reopened, an approval decided, a schedule added, changed, paused, resumed
    /// or deleted. On PostgreSQL it follows `NOTIFY baton_work` (so writes from any process
    /// wake every worker); on SQLite, this process's writes (other processes on the same
    /// file are caught by the callers' slow poll).
    pub fn work_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        match &self.backend {
            Backend::Sqlite(store) => store.work_signal(),
            Backend::Postgres(store) => store.work_signal(),
        }
    }
}

#[cfg(test)]
mod tests;
