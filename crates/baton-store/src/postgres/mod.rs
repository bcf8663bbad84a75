//! The PostgreSQL backend: a connection pool, the group-commit writer of step starts and
//! ends ([`batch`]), the migrations (taken in turns under an advisory lock), and the
//! `LISTEN baton_work` task behind [`crate::Store::work_signal`]. Everything
//! PostgreSQL-specific (row locks, `SKIP LOCKED`, advisory locks, `json` casts, the
//! database clock `baton_now_ms()`) stays in this module.

mod automation;
mod batch;
pub(crate) mod copy;
mod runs;
mod state;
pub(crate) mod workers;

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::watch;

use crate::{Result, StoreError, mask_url, url::database_name};

/// Migrations, applied in order at open; each runs once, in its own transaction.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("schema_1.sql")),
    (2, include_str!("schema_2.sql")),
    (3, include_str!("schema_3.sql")),
    (4, include_str!("schema_4.sql")),
    (5, include_str!("schema_5.sql")),
    (6, include_str!("schema_6.sql")),
    (7, include_str!("schema_7.sql")),
    (8, include_str!("schema_8.sql")),
    (9, include_str!("schema_9.sql")),
];

/// The advisory lock key migrations take (any fixed number; "baton" in ASCII).
const MIGRATION_LOCK: i64 = 0x0062_6174_6f6e;

/// Connections in the pool.
const POOL_SIZE: u32 = 10;

/// How long PostgreSQL lets one of Baton's sessions sit idle inside a transaction before it
/// ends the session and frees its locks. Baton's transactions only talk to the database and
/// last milliseconds; a worker frozen inside one (stopped, a paused VM, a partition) would
/// otherwise hold its locks — the claim lock every worker takes turns on included — for as
/// long as it is frozen. A non-zero value the user chose (server, database, role or the
/// URL's `options`) is kept.
pub(crate) const IDLE_IN_TRANSACTION_TIMEOUT: &str = "5s";

#[derive(Clone, Debug)]
pub(crate) struct PgStore {
    pool: PgPool,
    /// The group-commit writer of step starts and successful ends.
    writer: tokio::sync::mpsc::UnboundedSender<batch::Op>,
    /// The URL with its password masked.
    location: String,
    /// Outputs larger than this (bytes of JSON) go to `blobs`.
    inline_limit: usize,
    /// Moved by the `LISTEN baton_work` task.
    signal: Arc<watch::Sender<u64>>,
}

impl PgStore {
    /// Connects to `url` and applies the migrations.
    pub(crate) async fn connect(url: &str, inline_limit: usize) -> Result<PgStore> {
        let location = mask_url(url);
        let options: PgConnectOptions = url.parse().map_err(|error| StoreError::Connect {
            location: location.clone(),
            source: Box::new(error),
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|connection, _| {
                Box::pin(async move {
                    sqlx::query(
                        "SELECT set_config('idle_in_transaction_session_timeout', $1, false) \
                         WHERE current_setting('idle_in_transaction_session_timeout') = '0'",
                    )
                    .bind(IDLE_IN_TRANSACTION_TIMEOUT)
                    .execute(connection)
                    .await
                    .map(|_| ())
                })
            })
            .connect_with(options)
            .await
            .map_err(|error| connect_error(&location, url, error))?;
        let signal = Arc::new(watch::channel(0_u64).0);
        let store = PgStore {
            writer: batch::start(pool.clone()),
            pool,
            location,
            inline_limit,
            signal,
        };
        store.migrate().await?;
        listen(store.pool.clone(), Arc::downgrade(&store.signal)).await?;
        Ok(store)
    }

    /// The connection pool, for tests that look at rows directly.
    #[cfg(test)]
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    pub(crate) fn work_signal(&self) -> watch::Receiver<u64> {
        self.signal.subscribe()
    }

    /// An error of this database, with what to do about the common ones.
    fn error(&self, error: sqlx::Error) -> StoreError {
        classify(&self.location, error)
    }

    async fn migrate(&self) -> Result<()> {
        let known = MIGRATIONS.last().map_or(0, |(version, _)| *version);
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
            // Processes starting together take turns; the lock ends with the transaction.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(MIGRATION_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            sqlx::raw_sql(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version bigint PRIMARY KEY, applied_at bigint NOT NULL)",
            )
            .execute(&mut *tx)
            .await
            .map_err(|e| self.error(e))?;
            let newest: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(|e| self.error(e))?;
            if let Some(found) = newest.filter(|found| *found > known) {
                return Err(StoreError::SchemaTooNew {
                    location: self.location.clone(),
                    found,
                    known,
                });
            }
            if newest.unwrap_or(0) < *version {
                sqlx::raw_sql(*sql)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| self.error(e))?;
                sqlx::query(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, (extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
                )
                .bind(version)
                .execute(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            }
            tx.commit().await.map_err(|e| self.error(e))?;
        }
        Ok(())
    }

    pub(crate) async fn schema_version(&self) -> Result<(i64, i64)> {
        let applied: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_migrations")
            .fetch_one(&self.pool)
            .await?;
        let known = MIGRATIONS.last().map_or(0, |(version, _)| *version);
        Ok((applied.unwrap_or(0), known))
    }

    pub(crate) async fn database_size(&self) -> Result<u64> {
        let size: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&self.pool)
            .await?;
        Ok(size.max(0) as u64)
    }
}

/// Starts the task that follows `NOTIFY baton_work` and moves `signal`; it reconnects when
/// the connection is lost (moving the signal then too: a notification may have been
/// missed) and ends when the store is gone.
async fn listen(pool: PgPool, signal: Weak<watch::Sender<u64>>) -> Result<()> {
    let mut listener = PgListener::connect_with(&pool).await?;
    listener.listen("baton_work").await?;
    tokio::spawn(async move {
        loop {
            let bump = match tokio::time::timeout(Duration::from_secs(1), listener.try_recv()).await
            {
                Err(_) => false,
                Ok(Ok(Some(_))) => true,
                // The connection was lost; the next call reconnects and listens again.
                Ok(Ok(None)) | Ok(Err(_)) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    true
                }
            };
            let Some(signal) = signal.upgrade() else {
                break;
            };
            if bump {
                signal.send_modify(|count| *count += 1);
            }
        }
    });
    Ok(())
}

/// The error of connecting to `url`, said so that its reader knows what to do.
fn connect_error(location: &str, url: &str, error: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &error
        && db.code().as_deref() == Some("3D000")
    {
        return StoreError::NoDatabase {
            location: location.to_owned(),
            database: database_name(url).unwrap_or_else(|| "baton".to_owned()),
        };
    }
    match classify(location, error) {
        StoreError::Database(source) => StoreError::Connect {
            location: location.to_owned(),
            source,
        },
        other => other,
    }
}

/// Authentication and privilege errors get their own words; the rest stay database errors.
fn classify(location: &str, error: sqlx::Error) -> StoreError {
    let code = match &error {
        sqlx::Error::Database(db) => db.code().map(|code| code.into_owned()),
        _ => None,
    };
    match code.as_deref() {
        Some("28P01" | "28000") => StoreError::Auth {
            location: location.to_owned(),
            source: Box::new(error),
        },
        // 3F000: no schema the user may create in (no USAGE on `public`).
        Some("42501" | "3F000") => StoreError::Privileges {
            location: location.to_owned(),
            source: Box::new(error),
        },
        _ => StoreError::Database(Box::new(error)),
    }
}
