//! `events.derive`: every `every`, each server's numbers (and each of its tools') go
//! through [`baton_automation::derive::Deriver`], and the events it derives
//! (`server_degraded`, `server_recovered`, `error_rate_exceeded`, `error_rate_recovered`)
//! are recorded on the bus with `server` (and `tool`) — usable by triggers like any other.

use std::{collections::HashMap, sync::Arc, time::Instant};

use baton_automation::{
    EventBus,
    derive::{Deriver, Sample},
};
use baton_mcp::Gateway;
use serde_json::json;
use tokio_util::sync::CancellationToken;

/// Starts the derivation loop (when `events.derive.enabled`) until `shutdown`. The settings
/// in force are read at each tick, so a reload changes them.
pub fn start(gateway: &Arc<Gateway>, bus: Arc<EventBus>, shutdown: CancellationToken) {
    let weak = Arc::downgrade(gateway);
    let origin = Instant::now();
    tokio::spawn(async move {
        // (server label, tool or "") → its state.
        let mut targets: HashMap<(String, String), Deriver> = HashMap::new();
        loop {
            let Some(gateway) = weak.upgrade() else {
                return;
            };
            let settings = gateway.config().events.derive.clone();
            drop(gateway);
            tokio::select! {
                _ = tokio::time::sleep(settings.every) => {}
                _ = shutdown.cancelled() => return,
            }
            if !settings.enabled {
                continue;
            }
            let Some(gateway) = weak.upgrade() else {
                return;
            };
            let at = origin.elapsed();
            for upstream in gateway.upstreams() {
                let (total, by_name) = upstream.stats();
                let server = upstream.name().to_owned();
                let label = upstream.label();
                let tools = by_name.iter().map(|(tool, s)| (tool.clone(), s));
                for (tool, summary) in std::iter::once((String::new(), &total)).chain(tools) {
                    let sample = Sample {
                        at,
                        calls: summary.calls,
                        // Failures to get an answer, timeouts included (a tool's own
                        // error result is an answer).
                        errors: summary.errors + summary.timeouts,
                        p95_ms: summary.p95_ms,
                    };
                    let target = targets.entry((label.clone(), tool.clone())).or_default();
                    for (kind, mut data) in target.observe(&settings, sample) {
                        data.insert("server".into(), json!(server));
                        if label != server {
                            data.insert("replica".into(), json!(label));
                        }
                        if !tool.is_empty() {
                            data.insert("tool".into(), json!(tool));
                        }
                        tracing::info!(server = %label, tool = %tool, event = kind.as_str(), "derived an event from the server's numbers");
                        bus.emit(kind, data);
                    }
                }
            }
        }
    });
}
