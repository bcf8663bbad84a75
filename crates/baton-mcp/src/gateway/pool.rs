//! Autoscaling replica pools (`replicas: {min, max, target_in_flight, scale_in_after}`):
//! every [`TICK`], each pooled server's calls in flight per replica are compared with its
//! target. Above it for [`SUSTAINED`] (and under `max`): a replica is started and joins
//! the topology once it answers. A replica idle for `scale_in_after` (and above `min`)
//! leaves the topology — no new call goes to it — and is stopped once its last call in
//! flight has ended, so no call fails because of scaling. A `per_client` server's pool only
//! grows: its replicas hold clients' sessions, which are never moved.

use std::{
    collections::HashMap,
    sync::{Arc, Weak},
    time::{Duration, Instant},
};

use baton_core::config::{Isolation, ServerConfig};
use tokio::sync::oneshot;

use super::{Gateway, GatewayEvent, Topology, reload::CONNECT_WAIT};
use crate::upstream::Upstream;

/// How often the pools are looked at.
const TICK: Duration = Duration::from_millis(250);
/// How long the load must stay above the target before a replica is added.
const SUSTAINED: Duration = Duration::from_millis(750);
/// How long a retired replica's calls in flight may take before it is stopped anyway.
const DRAIN_FOR: Duration = Duration::from_secs(60);

#[derive(Default)]
struct PoolState {
    /// Since when the load has been above the target.
    above_since: Option<Instant>,
    /// Replica label → since when it has had no call in flight.
    idle_since: HashMap<String, Instant>,
}

impl Gateway {
    /// Watches the autoscaling pools for as long as the gateway lives.
    pub(crate) fn watch_pools(weak: Weak<Gateway>) {
        tokio::spawn(async move {
            let mut pools: HashMap<String, PoolState> = HashMap::new();
            loop {
                tokio::time::sleep(TICK).await;
                let Some(gateway) = weak.upgrade() else {
                    return;
                };
                let topology = gateway.topology();
                for server in &topology.config.servers {
                    if server.autoscale.is_some() && !server.disabled {
                        let state = pools.entry(server.name.clone()).or_default();
                        gateway.tend(&topology, server, state).await;
                    }
                }
            }
        });
    }

    async fn tend(
        self: &Arc<Self>,
        topology: &Topology,
        server: &ServerConfig,
        state: &mut PoolState,
    ) {
        let Some(pool) = server.autoscale else {
            return;
        };
        let replicas: Vec<Arc<Upstream>> = topology.replicas(&server.name).cloned().collect();
        if replicas.is_empty() {
            return;
        }
        let now = Instant::now();
        let in_flight: usize = replicas.iter().map(|r| r.in_flight()).sum();
        let above = in_flight > replicas.len() * pool.target_in_flight as usize;
        if above && replicas.len() < pool.max as usize {
            let since = *state.above_since.get_or_insert(now);
            if now.duration_since(since) >= SUSTAINED {
                state.above_since = None;
                self.scale_out(server).await;
            }
            return;
        }
        if !above {
            state.above_since = None;
        }
        // Which replicas are idle, and since when.
        state
            .idle_since
            .retain(|label, _| replicas.iter().any(|r| &r.label() == label));
        for replica in &replicas {
            if replica.in_flight() == 0 {
                state.idle_since.entry(replica.label()).or_insert(now);
            } else {
                state.idle_since.remove(&replica.label());
            }
        }
        if server.isolation == Isolation::PerClient || replicas.len() <= pool.min as usize {
            return;
        }
        // The newest replica long idle leaves first.
        let retiring = replicas.iter().rev().find(|replica| {
            state
                .idle_since
                .get(&replica.label())
                .is_some_and(|since| now.duration_since(*since) >= pool.scale_in_after)
        });
        if let Some(replica) = retiring.cloned() {
            state.idle_since.remove(&replica.label());
            self.scale_in(&server.name, &replica).await;
        }
    }

    /// Starts one more replica of `server` and adds it once it answers.
    async fn scale_out(self: &Arc<Self>, server: &ServerConfig) {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.topology();
        let existing: Vec<Arc<Upstream>> = old.replicas(&server.name).cloned().collect();
        let Some(first) = existing.first() else {
            return;
        };
        let index = existing.iter().map(|r| r.replica).max().unwrap_or(0) + 1;
        let upstream = Upstream::new(
            first.config.clone(),
            index,
            first.server_limit.clone(),
            self.http.clone(),
            self.events.clone(),
        );
        let (started, ready) = oneshot::channel();
        self.launch(upstream.clone(), Some(started));
        let _ = tokio::time::timeout(CONNECT_WAIT, ready).await;
        if !upstream.is_available() {
            tracing::warn!(server = %upstream.label(), "a new pool replica did not come up; not added");
            upstream.shutdown().await;
            return;
        }
        let upstreams = old
            .config
            .servers
            .iter()
            .flat_map(|each| {
                let mut replicas: Vec<Arc<Upstream>> = old.replicas(&each.name).cloned().collect();
                if each.name == server.name {
                    replicas.push(upstream.clone());
                }
                replicas
            })
            .collect();
        *self.topology.write().unwrap_or_else(|p| p.into_inner()) =
            Arc::new(Topology::new(old.config.clone(), upstreams));
        let replicas = existing.len() + 1;
        tracing::info!(server = %server.name, replica = %upstream.label(), replicas, "pool scaled out");
        self.publish(GatewayEvent::PoolScaled {
            server: server.name.clone(),
            replica: upstream.label(),
            replicas,
            added: true,
        });
    }

    /// Takes `replica` out of the topology, then stops it once its calls have ended.
    async fn scale_in(self: &Arc<Self>, server: &str, replica: &Arc<Upstream>) {
        let replicas = {
            let _one_at_a_time = self.reloading.lock().await;
            let old = self.topology();
            let upstreams: Vec<Arc<Upstream>> = old
                .upstreams()
                .iter()
                .filter(|each| !Arc::ptr_eq(each, replica))
                .cloned()
                .collect();
            *self.topology.write().unwrap_or_else(|p| p.into_inner()) =
                Arc::new(Topology::new(old.config.clone(), upstreams));
            self.topology().replicas(server).count()
        };
        tracing::info!(server, replica = %replica.label(), replicas, "pool scaled in");
        self.publish(GatewayEvent::PoolScaled {
            server: server.to_owned(),
            replica: replica.label(),
            replicas,
            added: false,
        });
        let replica = replica.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + DRAIN_FOR;
            while replica.in_flight() > 0 && Instant::now() < deadline {
                tokio::time::sleep(TICK).await;
            }
            replica.shutdown().await;
        });
    }
}
