//! The SQLite backend: one WAL file, one connection (SQLite has one writer at a time), the
//! group-commit writer of step starts and ends ([`batch`]), and the migrations. Everything
//! SQLite-specific (`BEGIN IMMEDIATE`, `INTEGER PRIMARY KEY` row ids, sqlx's SQLite types)
//! stays in this module.

mod automation;
mod batch;
pub(crate) mod copy;
mod runs;
mod state;
mod workers;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use serde_json::Value;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::{Result, StoreError, now_ms};

/// Migrations, applied in order at open; each runs once.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../schema.sql")),
    (2, include_str!("../schema_2.sql")),
    (3, include_str!("../schema_3.sql")),
    (4, include_str!("../schema_4.sql")),
    (5, include_str!("../schema_5.sql")),
    (6, include_str!("../schema_6.sql")),
    (7, include_str!("../schema_7.sql")),
    (8, include_str!("../schema_8.sql")),
    (9, include_str!("../schema_9.sql")),
    (10, include_str!("../schema_10.sql")),
    (11, include_str!("../schema_11.sql")),
    (12, include_str!("../schema_12.sql")),
    (13, include_str!("../schema_13.sql")),
];

#[derive(Clone, Debug)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    /// The group-commit writer of step starts and successful ends.
    writer: tokio::sync::mpsc::UnboundedSender<batch::Op>,
    path: PathBuf,
    /// Outputs larger than this (bytes of JSON) go to `blobs`.
    inline_limit: usize,
    /// Moved by this process's writes that may give an idle worker work.
    signal: Arc<tokio::sync::watch::Sender<u64>>,
}

/// Makes the database file (and its WAL and shared-memory files) readable by its owner
/// only: it holds OAuth tokens of remote servers. Best effort (a file system without modes).
fn owner_only(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let file = PathBuf::from(file);
            if let Ok(meta) = std::fs::metadata(&file)
                && meta.permissions().mode() & 0o077 != 0
            {
                let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::Database(Box::new(error))
    }
}

impl SqliteStore {
    /// The connection pool, for tests that look at rows directly.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Opens (creating it and its folder if needed) the database at `path` and applies
    /// the migrations.
    pub(crate) async fn open(path: &Path, inline_limit: usize) -> Result<SqliteStore> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Open {
                path: path.to_owned(),
                source: Box::new(error),
            })?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            // One connection: SQLite has one writer at a time, and a second connection would
            // wait for the lock in its busy handler (millisecond sleeps) instead of queueing.
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source: Box::new(source),
            })?;
        let store = SqliteStore {
            writer: batch::start(pool.clone()),
            pool,
            path: path.to_owned(),
            inline_limit,
            signal: Arc::new(tokio::sync::watch::channel(0).0),
        };
        store.migrate().await?;
        owner_only(path);
        Ok(store)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn work_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.signal.subscribe()
    }

    /// Tells idle workers of this process that work may have appeared.
    pub(super) fn wake(&self) {
        self.signal.send_modify(|count| *count += 1);
    }

    pub(crate) async fn schema_version(&self) -> Result<(i64, i64)> {
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        Ok((applied.unwrap_or(0), latest_version()))
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .execute(&self.pool)
        .await?;
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        if let Some(found) = newest.filter(|found| *found > latest_version()) {
            return Err(StoreError::SchemaTooNew {
                location: self.path.display().to_string(),
                found,
                known: latest_version(),
            });
        }
        if newest == Some(latest_version()) {
            // Up to date (every start but the first after an upgrade): no lock to take.
            return Ok(());
        }
        // The pending migrations in one transaction: a new file is created in one commit.
        // IMMEDIATE: two processes opening a new file at once take turns instead of one
        // failing to upgrade its read lock; the second then finds every version applied.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for (version, sql) in MIGRATIONS {
            let applied: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if applied.is_none() {
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                    .bind(version)
                    .bind(now_ms())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// The database file's size in bytes (with its WAL).
    pub(crate) fn size_bytes(&self) -> u64 {
        let wal = PathBuf::from(format!("{}-wal", self.path.display()));
        [self.path.as_path(), wal.as_path()]
            .iter()
            .filter_map(|path| std::fs::metadata(path).ok())
            .map(|meta| meta.len())
            .sum()
    }
}

/// The newest migration this binary has.
fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

pub(crate) fn parse_json(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|error| StoreError::Corrupt(format!("stored JSON: {error}")))
}

/// A short, sortable-enough run id: time in base 36 plus random hex.
pub(crate) fn new_id() -> String {
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    format!("{}{}", radix36(now_ms() as u64), &uuid[..6])
}

fn radix36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}
