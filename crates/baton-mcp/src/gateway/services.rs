//! What the gateway is attached to besides its upstreams: the workflow engine, the
//! schedules and triggers, the built-in tools' store, the reloader — and small accessors
//! the built-in tools use.

use std::{sync::Arc, time::Duration};

use super::{Gateway, Reloader};

impl Gateway {
    /// Attaches the workflow engine (once): workflows become tools, and clients are told.
    pub async fn attach_engine(&self, engine: Arc<baton_engine::Engine>) {
        if self.engine.set(engine).is_ok() {
            self.rebuild_catalog();
            self.broadcast_all().await;
        }
    }

    pub fn engine(&self) -> Option<&Arc<baton_engine::Engine>> {
        self.engine.get()
    }

    /// An owned handle on this gateway (`None` while it is being dropped).
    pub fn handle(&self) -> Option<Arc<Gateway>> {
        self.this.get().and_then(std::sync::Weak::upgrade)
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sets how `sync_environment` reloads the configuration (once).
    pub fn set_reloader(&self, reloader: Reloader) {
        let _ = self.reloader.set(reloader);
    }

    pub fn reloader(&self) -> Option<Reloader> {
        self.reloader.get().cloned()
    }

    /// Rebuilds the catalog from the upstreams' lists and tells clients what changed;
    /// returns the changed lists' names.
    pub async fn refresh_catalog(&self) -> Vec<String> {
        let changes = self.rebuild_catalog_diff();
        let names = changes
            .iter()
            .map(|list| format!("{list:?}").to_lowercase())
            .collect();
        for list in changes {
            self.broadcast(list).await;
        }
        names
    }

    /// The store for memory and time tracking: the engine's, else the configured file,
    /// opened (and created) on first use.
    pub async fn state_store(&self) -> Result<baton_engine::baton_store::Store, String> {
        if let Some(engine) = self.engine.get() {
            return Ok(engine.store().clone());
        }
        let config = self.config();
        self.state_store
            .get_or_try_init(|| async {
                baton_engine::baton_store::Store::open(
                    &config.store.path,
                    config.workflows.inline_output_limit,
                )
                .await
                .map_err(|error| {
                    format!("cannot open Baton's store: {error} (set store.path in baton.yaml)")
                })
            })
            .await
            .cloned()
    }

    /// Attaches schedules, triggers and events (once): their tools join the catalog.
    pub async fn attach_automation(&self, automation: Arc<baton_automation::Automation>) {
        if self.automation.set(automation).is_ok() {
            self.rebuild_catalog();
            self.broadcast_all().await;
        }
    }

    pub fn automation(&self) -> Option<&Arc<baton_automation::Automation>> {
        self.automation.get()
    }
}
