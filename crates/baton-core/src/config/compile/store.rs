//! The `store:` and `workers:` sections: where the durable state lives, and how this
//! process shares it with other workers.

use super::*;

/// The variable that names a PostgreSQL store; it wins over `store:` in the file.
pub const STORE_URL_ENV: &str = "BATON_STORE_URL";

impl Compiler<'_> {
    pub(super) fn store(
        &mut self,
        store: Option<&RawStore>,
        workers: Option<&RawWorkers>,
        config: &mut Config,
    ) {
        config.store.path = self.base_dir.join(".baton/baton.db");
        if let Some(store) = store {
            if let (Some(_), Some(url)) = (&store.path, &store.url) {
                self.sink.push(
                    url.referenced,
                    "store",
                    "give either url (PostgreSQL) or path (SQLite), not both",
                );
            }
            if let Some(path) = &store.path
                && let Some(text) = self.string(path, "store.path")
            {
                config.store.path = self.base_dir.join(text);
            }
            if let Some(url) = &store.url
                && let Some(text) = self.string(url, "store.url")
            {
                match check_store_url(&text) {
                    Ok(()) => config.store.url = Some(text),
                    Err(problem) => self.sink.push(url.referenced, "store.url", problem),
                }
            }
        }
        if let Some(url) = (self.lookup)(STORE_URL_ENV).filter(|url| !url.trim().is_empty()) {
            config.store.url = Some(url.trim().to_owned());
        }
        let Some(workers) = workers else {
            return;
        };
        if let Some(max_runs) = &workers.max_runs {
            if max_runs.value == 0 {
                self.sink.push(
                    max_runs.referenced,
                    "workers.max_runs",
                    "must be at least 1 (leave it out for no limit)",
                );
            } else {
                config.workers.max_runs = Some(max_runs.value);
            }
        }
        if let Some(lease) = &workers.lease
            && let Some(duration) = self.duration(lease, "workers.lease")
        {
            if duration < Duration::from_secs(1) {
                self.sink.push(
                    lease.referenced,
                    "workers.lease",
                    "must be at least 1s (a worker renews its leases every third of it)",
                );
            } else {
                config.workers.lease = duration;
            }
        }
        if let Some(poll) = &workers.poll
            && let Some(duration) = self.duration(poll, "workers.poll")
        {
            config.workers.poll = duration;
        }
    }
}

/// Whether `url` names a store Baton can open: `postgres://…`, `postgresql://…` or
/// `sqlite:PATH`.
pub fn check_store_url(url: &str) -> Result<(), String> {
    let known = ["postgres://", "postgresql://", "sqlite:"];
    if known.iter().any(|scheme| url.starts_with(scheme)) {
        Ok(())
    } else {
        Err(format!(
            "\"{}\" is not a store URL: write postgres://USER@HOST:5432/DB (or sqlite:PATH)",
            url.split('@').next_back().unwrap_or(url)
        ))
    }
}
