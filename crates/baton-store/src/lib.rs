//! Baton's durable state behind one seam: a trait per feature — [`RunStore`] (workflow
//! versions, runs and leases, steps, attempts, out-of-line outputs, approvals),
//! [`AutomationStore`] (schedules, slots, trigger cool-downs, events) and [`StateStore`]
//! (time entries, memories) — each implemented by a backend, and [`Store`], the handle every
//! consumer holds, which dispatches each method to the backend it was opened on.
//!
//! Today the one backend is SQLite (`sqlite/`, an embedded WAL file). A second backend is one
//! more [`Backend`] variant implementing the three traits; nothing outside this crate
//! changes, and no backend type (sqlx, a pool, a row) appears in a public signature.
//! Backend-specific phrases (transactions and their locking, row ids) stay in the backend.
//! The store's tests are written against [`Store`] (`tests.rs`), so they run unchanged on
//! every backend.

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
                    }
                }
            )*
        }
    };
}

mod automation;
mod runs;
mod sqlite;
mod state;
mod types;

pub use automation::*;
pub use runs::RunStore;
pub use state::*;
pub use types::*;

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

    /// Where the data lives (the database file).
    pub fn path(&self) -> &Path {
        match &self.backend {
            Backend::Sqlite(store) => store.path(),
        }
    }

    /// The data's size in bytes.
    pub fn size_bytes(&self) -> u64 {
        match &self.backend {
            Backend::Sqlite(store) => store.size_bytes(),
        }
    }
}

#[cfg(test)]
mod tests;
