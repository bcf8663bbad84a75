//! Small accessors the tool sets use: an owned handle, uptime, a catalog refresh.

use std::{sync::Arc, time::Duration};

use std::sync::atomic::Ordering;

use super::Gateway;

/// A tool call in flight ([`Gateway::drain`] waits for it).
pub(super) struct InFlight<'g>(&'g Gateway);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

/// A client's request in flight until its answer is sent ([`Gateway::drain`] waits for it).
pub struct RequestInFlight(Arc<Gateway>);

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        self.0.request_ended();
    }
}

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

    /// Waits until no tool call is in flight, at most `limit`; `false` when some still are.
    pub async fn drain(&self, limit: Duration) -> bool {
        let idle = async {
            loop {
                let done = self.calls_done.notified();
                if self.calls_in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                done.await;
            }
        };
        tokio::time::timeout(limit, idle).await.is_ok()
    }

    /// Counts a tool call in flight until the guard drops.
    pub(super) fn call_started(&self) -> InFlight<'_> {
        self.calls_in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self)
    }

    /// Counts a client's request in flight until the guard drops (the HTTP transport drops
    /// it once the answer is sent).
    pub fn request_started(self: &Arc<Self>) -> RequestInFlight {
        self.calls_in_flight.fetch_add(1, Ordering::AcqRel);
        RequestInFlight(self.clone())
    }

    fn request_ended(&self) {
        if self.calls_in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.calls_done.notify_waiters();
        }
    }

    /// The result cache's hits, misses and entries.
    pub fn cache_counters(&self) -> (u64, u64, u64) {
        self.cache.counters()
    }
}
