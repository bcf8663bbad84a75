//! Test fixtures (feature `testing`): stores on either backend, so that the tests of this
//! crate and of its consumers run unchanged on SQLite and on PostgreSQL.
//!
//! PostgreSQL tests create a fresh database per test through the admin URL in
//! `BATON_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`) and
//! drop it at the end, also when the test panics. When PostgreSQL cannot be reached the
//! test fails, saying so: it is never skipped.

use std::path::{Path, PathBuf};

use sqlx::{Connection, postgres::PgConnection};

use crate::{Store, mask_url};

/// The admin URL PostgreSQL tests create their databases through.
pub fn admin_url() -> String {
    std::env::var("BATON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `url` with its database (the path) replaced by `name`.
pub fn with_database(url: &str, name: &str) -> String {
    let start = url.find("://").map_or(0, |at| at + 3);
    let (head, rest) = url.split_at(start);
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find(['?', '#']).map_or("", |at| &tail[at..]);
    format!("{head}{authority}/{name}{query}")
}

/// A fresh PostgreSQL database, dropped (`WITH (FORCE)`) when this is dropped.
#[derive(Debug)]
pub struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    /// Creates `baton_t_<random>`. Panics, saying what to do, when PostgreSQL cannot be
    /// reached.
    pub async fn new() -> TestDb {
        let admin = admin_url();
        let name = format!("baton_t_{}", uuid::Uuid::new_v4().simple());
        let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|error| {
            panic!(
                "PostgreSQL tests need a server: cannot connect to {} ({error}). Start PostgreSQL or set BATON_TEST_POSTGRES_URL to an admin URL",
                mask_url(&admin)
            )
        });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .unwrap_or_else(|error| panic!("cannot create the test database {name}: {error}"));
        let _ = connection.close().await;
        TestDb {
            url: with_database(&admin, &name),
            admin,
            name,
        }
    }

    /// The database's URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A new store connected to the database (migrated).
    pub async fn store(&self, inline_limit: usize) -> Store {
        Store::connect_postgres(&self.url, inline_limit)
            .await
            .unwrap_or_else(|error| panic!("{error}"))
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin.clone();
        let name = self.name.clone();
        // A fresh thread with its own runtime: this may run inside (or outside) any runtime,
        // and during a panic.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut connection = PgConnection::connect(&admin).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut connection)
                .await
                .ok()?;
                let _ = connection.close().await;
                Some(())
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop the test database {}", self.name);
        }
    }
}

/// The backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// Where a test's data lives: a SQLite file in the test's folder, or a fresh PostgreSQL
/// database. Every [`TestPlace::store`] opens another store on the same data (a restart,
/// or a second process).
#[derive(Debug)]
pub struct TestPlace {
    backend: TestBackend,
    path: PathBuf,
    db: Option<TestDb>,
    inline_limit: usize,
}

impl TestPlace {
    /// A place on `backend`; SQLite keeps its file in `dir`.
    pub async fn new(backend: TestBackend, dir: &Path, inline_limit: usize) -> TestPlace {
        let db = match backend {
            TestBackend::Sqlite => None,
            TestBackend::Postgres => Some(TestDb::new().await),
        };
        TestPlace {
            backend,
            path: dir.join("state/baton.db"),
            db,
            inline_limit,
        }
    }

    pub fn backend(&self) -> TestBackend {
        self.backend
    }

    /// The PostgreSQL database's URL, on PostgreSQL.
    pub fn postgres_url(&self) -> Option<&str> {
        self.db.as_ref().map(TestDb::url)
    }

    /// A new store on this place's data.
    pub async fn store(&self) -> Store {
        self.try_store()
            .await
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// A new store on this place's data, or why it could not be opened.
    pub async fn try_store(&self) -> crate::Result<Store> {
        match &self.db {
            Some(db) => Store::connect_postgres(db.url(), self.inline_limit).await,
            None => Store::open(&self.path, self.inline_limit).await,
        }
    }
}

/// A store on `backend` (SQLite in `dir`), and the place that keeps its data (drop it last:
/// on PostgreSQL it drops the database).
pub async fn open_test_store(
    backend: TestBackend,
    dir: &Path,
    inline_limit: usize,
) -> (Store, TestPlace) {
    let place = TestPlace::new(backend, dir, inline_limit).await;
    (place.store().await, place)
}
