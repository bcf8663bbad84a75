//! Opening the configured store: SQLite by default (`store.path`), PostgreSQL when
//! `store.url` or `BATON_STORE_URL` names one.

use baton_core::Config;
use baton_store::Store;

/// Where `config` keeps its state, as a person reads it (passwords masked).
pub fn describe(config: &Config) -> String {
    match &config.store.url {
        Some(url) => baton_store::mask_url(url),
        None => config.store.path.display().to_string(),
    }
}

/// Opens the configured store (applying its migrations), or says why it could not and
/// how to fix it.
pub async fn open_store(config: &Config) -> Result<Store, String> {
    let limit = config.workflows.inline_output_limit;
    match &config.store.url {
        Some(url) => open_url(url, limit).await.map_err(|error| {
            format!("cannot open Baton's store: {error} (set store.url in baton.yaml or BATON_STORE_URL)")
        }),
        None => Store::open(&config.store.path, limit).await.map_err(|error| {
            format!(
                "cannot open Baton's store: {error} (set store.path in baton.yaml to a writable file)"
            )
        }),
    }
}

/// Opens a store by URL: `postgres://…`, `postgresql://…` or `sqlite:PATH`.
pub async fn open_url(url: &str, inline_limit: usize) -> Result<Store, baton_store::StoreError> {
    match url.strip_prefix("sqlite:") {
        Some(path) => {
            let path = path.strip_prefix("//").unwrap_or(path);
            Store::open(std::path::Path::new(path), inline_limit).await
        }
        None => Store::connect_postgres(url, inline_limit).await,
    }
}
