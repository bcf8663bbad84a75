//! Small accessors the tool sets use: an owned handle, uptime, a catalog refresh.

use std::{sync::Arc, time::Duration};

use super::Gateway;

impl Gateway {
    /// An owned handle on this gateway (`None` while it is being dropped).
    pub fn handle(&self) -> Option<Arc<Gateway>> {
        self.this.upgrade()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
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

    /// The tool set at `index` (a catalog route's `set`).
    pub fn tool_set(&self, index: usize) -> Option<&Arc<dyn crate::toolset::ToolSet>> {
        self.sets.get(index)
    }

    /// The result cache's hits, misses and entries.
    pub fn cache_counters(&self) -> (u64, u64, u64) {
        self.cache.counters()
    }
}
