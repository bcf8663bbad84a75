//! The last minutes of each server's numbers, for the dashboard's small charts: every
//! [`EVERY`], the calls and errors since the previous sample and the p50/p99 latency of the
//! recent calls, [`KEEP`] samples per server (10 minutes).

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use baton_mcp::Gateway;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

pub const EVERY: Duration = Duration::from_secs(5);
pub const KEEP: usize = 120;

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// ms since the Unix epoch.
    pub at: i64,
    pub calls: u64,
    pub errors: u64,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// A server's (calls, errors) totals at the last sample, and its samples.
type Track = ((u64, u64), VecDeque<Sample>);

#[derive(Default)]
pub struct History {
    /// Server label → its track.
    servers: Mutex<HashMap<String, Track>>,
}

impl History {
    /// Samples `gateway`'s servers now and every [`EVERY`] until `shutdown`.
    pub fn start(gateway: Arc<Gateway>, shutdown: CancellationToken) -> Arc<History> {
        let history = Arc::new(History::default());
        let sampler = history.clone();
        let weak = Arc::downgrade(&gateway);
        drop(gateway);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = shutdown.cancelled() => return,
                }
                let Some(gateway) = weak.upgrade() else {
                    return;
                };
                sampler.sample(&gateway);
            }
        });
        history
    }

    fn sample(&self, gateway: &Gateway) {
        let at = chrono::Utc::now().timestamp_millis();
        let mut servers = self.servers.lock().unwrap_or_else(|p| p.into_inner());
        for upstream in gateway.upstreams() {
            let (total, _) = upstream.stats();
            let (last, samples) = servers.entry(upstream.label()).or_default();
            let calls = total.calls.saturating_sub(last.0);
            let errors = total.errors.saturating_sub(last.1);
            *last = (total.calls, total.errors);
            if samples.len() == KEEP {
                samples.pop_front();
            }
            samples.push_back(Sample {
                at,
                calls,
                errors,
                p50_ms: total.p50_ms,
                p99_ms: total.p99_ms,
            });
        }
    }

    /// Server label's samples, oldest first.
    pub fn of(&self, label: &str) -> Vec<Sample> {
        self.servers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(label)
            .map(|(_, samples)| samples.iter().cloned().collect())
            .unwrap_or_default()
    }
}
